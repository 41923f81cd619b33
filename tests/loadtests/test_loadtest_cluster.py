"""The in-cluster Locust component, read from the offline plan of the real program (stage and dev)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contracts.config import load_environment
from infra.loadtest_cluster import PRIVATE_RANGES
from infra.planner import plan_environments

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plans() -> dict[str, list[dict[str, Any]]]:
    models = [load_environment(name, PROJECT) for name in ("stage", "dev")]
    document = plan_environments(models)
    return {env_plan.name: list(env_plan.resources) for env_plan in document}


def _mine(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    parents = {r["urn"] for r in resources if r["type"] == "walletops:loadtest:LoadtestCluster"}
    return {f"{r['type'].split(':')[-1]}/{r['name']}": r for r in resources if r["parent"] in parents}


def _container(resource: dict[str, Any]) -> dict[str, Any]:
    containers = resource["inputs"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def test_only_environments_that_enable_it_get_the_cluster(plans: dict[str, list[dict[str, Any]]]) -> None:
    assert _mine(plans["stage"])
    assert not _mine(plans["dev"])
    assert not any(r["type"].startswith("walletops:loadtest") for r in plans["dev"])


def test_every_child_uses_the_cluster_provider_and_carries_the_standard_tags(
    plans: dict[str, list[dict[str, Any]]],
) -> None:
    for name, resource in _mine(plans["stage"]).items():
        assert resource["provider"] == "wallet-stage-k8s", name
        labels = resource["inputs"]["metadata"]["labels"]
        assert {
            "environment": "stage",
            "owner": "platform-team",
            "cost-center": "CC-4100",
        }.items() <= labels.items()


def test_namespace_enforces_restricted_pod_security(plans: dict[str, list[dict[str, Any]]]) -> None:
    namespace = _mine(plans["stage"])["Namespace/wallet-stage-loadtest-namespace"]["inputs"]["metadata"]
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("role", ["master", "worker"])
def test_pods_run_non_root_read_only_with_resources_and_probes(
    plans: dict[str, list[dict[str, Any]]], role: str
) -> None:
    deployment = _mine(plans["stage"])[f"Deployment/wallet-stage-loadtest-{role}"]
    pod = deployment["inputs"]["spec"]["template"]["spec"]
    container = _container(deployment)
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert container["readinessProbe"] and container["livenessProbe"]
    assert container["args"][:2] == ["-f", "/etc/walletops/locustfile.py"]
    assert pod["volumes"][0]["configMap"]["name"] == "locust-config"


def test_pods_target_the_gateway_with_keys_from_a_secret(plans: dict[str, list[dict[str, Any]]]) -> None:
    env = {
        item["name"]: item
        for item in _container(_mine(plans["stage"])["Deployment/wallet-stage-loadtest-worker"])["env"]
    }
    assert env["LOCUST_HOST"]["value"].startswith("https://") and "execute-api" in env["LOCUST_HOST"]["value"]
    assert env["WALLETOPS_LT_EXCHANGES"]["value"] == "coinbase:crypto,alpaca:stock,kraken:crypto"
    pod = _mine(plans["stage"])["Deployment/wallet-stage-loadtest-worker"]["inputs"]["spec"]["template"][
        "spec"
    ]
    keys = next(v for v in pod["volumes"] if v["name"] == "api-keys")["secret"]
    assert keys["defaultMode"] == 0o440
    assert keys["secretName"] == "loadtest-api-keys"  # pragma: allowlist secret
    mount = next(
        m
        for m in _container(_mine(plans["stage"])["Deployment/wallet-stage-loadtest-worker"])["volumeMounts"]
        if m["name"] == "api-keys"
    )
    assert mount["readOnly"] is True
    for name, key in (("WALLETOPS_LT_API_KEY", "api-key"), ("WALLETOPS_LT_OPERATOR_KEY", "operator-api-key")):
        assert name not in env, "keys are files, not environment variables"
        assert env[f"{name}_FILE"]["value"] == f"{mount['mountPath']}/{key}"
        assert {"key": key, "path": key} in keys["items"]


def test_configmap_carries_the_locustfile_and_the_environment_slo(
    plans: dict[str, list[dict[str, Any]]],
) -> None:
    data = _mine(plans["stage"])["ConfigMap/wallet-stage-loadtest-config"]["inputs"]["data"]
    assert data["locustfile.py"] == (PROJECT / "loadtests" / "locustfile.py").read_text()
    assert data["slo.yaml"] == (PROJECT / "loadtests" / "slo" / "stage.yaml").read_text()
    assert data["gateway.yaml"] == (PROJECT / "gateway.yaml").read_text()


def test_workers_autoscale_between_the_configured_bounds(plans: dict[str, list[dict[str, Any]]]) -> None:
    stage = load_environment("stage", PROJECT)
    spec = _mine(plans["stage"])["HorizontalPodAutoscaler/wallet-stage-loadtest-workers-hpa"]["inputs"][
        "spec"
    ]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (
        stage.loadtest.min_workers,
        stage.loadtest.max_workers,
    )
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "locust-worker"}


def test_network_policies_allow_only_master_worker_and_gateway_traffic(
    plans: dict[str, list[dict[str, Any]]],
) -> None:
    mine = _mine(plans["stage"])
    deny = mine["NetworkPolicy/wallet-stage-loadtest-netpol-default-deny"]["inputs"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    master = mine["NetworkPolicy/wallet-stage-loadtest-netpol-master"]["inputs"]["spec"]
    assert master["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": "worker"}}}],
            "ports": [{"port": 5557, "protocol": "TCP"}],
        }
    ]
    worker = mine["NetworkPolicy/wallet-stage-loadtest-netpol-worker"]["inputs"]["spec"]
    assert worker.get("ingress", []) == []
    egress = worker["egress"]
    gateway = next(rule for rule in egress if "ipBlock" in rule["to"][0])
    assert gateway["to"][0]["ipBlock"] == {"cidr": "0.0.0.0/0", "except": PRIVATE_RANGES}
    assert gateway["ports"] == [{"port": 443, "protocol": "TCP"}]
    to_master = next(
        rule
        for rule in egress
        if rule["to"][0].get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
        == "master"
    )
    assert to_master["ports"] == [{"port": 5557, "protocol": "TCP"}]
    assert {p["port"] for rule in egress for p in rule["ports"]} == {53, 443, 5557}
