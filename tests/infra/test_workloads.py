"""Workloads: one role, secret, policy and scaling per service; pods locked down; default-deny network."""

from __future__ import annotations

import json
from typing import Any

import pytest
from plan_helpers import mock_arn, of_type, one, workload_objects

from contracts.config import SPOT_TAINT_KEY
from infra.planner import ACCOUNT_ID
from infra.workloads import fargate_size, image_version

K8S = "kubernetes:"


def test_every_service_has_its_full_set_of_objects(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        services = plan["outputs"]["services"]
        for kind in (
            "apps/v1:Deployment",
            "core/v1:Service",
            "core/v1:ServiceAccount",
            "autoscaling/v2:HorizontalPodAutoscaler",
            "policy/v1:PodDisruptionBudget",
        ):
            names = sorted(r["inputs"]["metadata"]["name"] for r in workload_objects(plan, kind))
            extra = ["db-bootstrap"] if kind == "core/v1:ServiceAccount" else []
            assert names == sorted([*services, *extra]), kind


def test_pods_run_non_root_read_only_with_limits_and_probes(plans: dict[str, Any]) -> None:
    for deployment in workload_objects(plans["prod"], "apps/v1:Deployment"):
        pod = deployment["inputs"]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
        [container] = pod["containers"]
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False and security["privileged"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert set(container["resources"]) == {"requests", "limits"}
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_service_accounts_are_bound_to_irsa_roles_scoped_to_them(plans: dict[str, Any]) -> None:
    plan = plans["stage"]
    roles = {r["name"]: r for r in of_type(plan, "aws:iam/role:Role")}
    for account in workload_objects(plan, "core/v1:ServiceAccount"):
        name = account["inputs"]["metadata"]["name"]
        assert account["inputs"]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
            f"{name}-irsa"
        )
        [statement] = json.loads(roles[f"wallet-stage-{name}-irsa"]["inputs"]["assumeRolePolicy"])[
            "Statement"
        ]
        conditions = statement["Condition"]["StringEquals"]
        assert f"system:serviceaccount:wallet:{name}" in conditions.values()


def test_namespace_denies_by_default_and_services_allow_only_what_they_need(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    policies = {
        p["inputs"]["metadata"]["name"]: p["inputs"]["spec"]
        for p in of_type(plan, f"{K8S}networking.k8s.io/v1:NetworkPolicy")
    }
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    wallet_egress_ports = {
        p["port"] for rule in policies["wallet-allow"]["egress"] for p in rule.get("ports", [])
    }
    assert {5432, 6379} <= wallet_egress_ports
    coinbase = policies["exchange-coinbase-allow"]["egress"]
    internet = [rule for rule in coinbase if rule["to"][0].get("ipBlock", {}).get("cidr") == "0.0.0.0/0"]
    assert internet and internet[0]["ports"] == [{"port": 443, "protocol": "TCP"}]
    assert "10.0.0.0/8" in internet[0]["to"][0]["ipBlock"]["except"]
    assert not any(
        rule["to"][0].get("ipBlock", {}).get("cidr") == "0.0.0.0/0"
        for rule in policies["wallet-allow"]["egress"]
    )


def test_namespace_enforces_restricted_pod_security(plans: dict[str, Any]) -> None:
    namespaces = {
        n["inputs"]["metadata"]["name"]: n for n in of_type(plans["dev"], f"{K8S}core/v1:Namespace")
    }
    assert set(namespaces) == {"wallet", "cert-manager", "observability", "elastic-system"}
    for name in ("wallet", "cert-manager", "elastic-system"):
        labels = namespaces[name]["inputs"]["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted", name
    shipper = namespaces["observability"]["inputs"]["metadata"]["labels"]
    assert shipper["pod-security.kubernetes.io/enforce"] == "privileged", "the log shipper mounts host paths"
    assert shipper["pod-security.kubernetes.io/warn"] == "restricted"


def test_exchange_credentials_are_secrets_encrypted_with_the_secrets_key(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    names = {s["inputs"]["name"] for s in of_type(plan, "aws:secretsmanager/secret:Secret")}
    assert {f"walletops/prod/exchange-{x}/credentials" for x in ("coinbase", "alpaca", "kraken")} <= names
    assert not [
        v
        for v in of_type(plan, "aws:secretsmanager/secretVersion:SecretVersion")
        if "credentials" in v["name"]
    ], "operators put the exchange credentials; the program never holds them"


def test_hpa_bounds_come_from_config(plans: dict[str, Any]) -> None:
    hpas = {
        h["inputs"]["metadata"]["name"]: h["inputs"]["spec"]
        for h in of_type(plans["prod"], f"{K8S}autoscaling/v2:HorizontalPodAutoscaler")
    }
    assert (hpas["wallet"]["minReplicas"], hpas["wallet"]["maxReplicas"]) == (3, 40)


def test_server_processes_per_pod_come_from_config(plans: dict[str, Any]) -> None:
    """``services.<name>.workers`` reaches the image as ``WALLETSTUB_WORKERS`` (dev's wallet runs 2)."""
    for env, expected in (("dev", "2"), ("prod", "1")):
        deployments = {
            d["inputs"]["metadata"]["name"]: d for d in workload_objects(plans[env], "apps/v1:Deployment")
        }
        container = deployments["wallet"]["inputs"]["spec"]["template"]["spec"]["containers"][0]
        variables = {item["name"]: item.get("value") for item in container["env"]}
        assert variables["WALLETSTUB_WORKERS"] == expected, env


@pytest.mark.parametrize(
    ("cpu", "memory", "size"),
    [(250, 256, (256, 512)), (500, 512, (512, 1024)), (500, 3000, (512, 3072)), (1500, 1024, (2048, 4096))],
)
def test_fargate_sizes_are_valid_combinations(cpu: int, memory: int, size: tuple[int, int]) -> None:
    assert fargate_size(cpu, memory) == size


def _deployments(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["inputs"]["metadata"]["name"]: d for d in workload_objects(plan, "apps/v1:Deployment")}


def test_only_services_that_opt_in_tolerate_spot_nodes(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        for name, deployment in _deployments(plan).items():
            tolerations = deployment["inputs"]["spec"]["template"]["spec"].get("tolerations", [])
            assert not any(t["key"] == SPOT_TAINT_KEY for t in tolerations), f"{name} would land on SPOT"


def test_pods_spread_over_zones_strictly_once_each_zone_can_hold_one(plans: dict[str, Any]) -> None:
    wallet = _deployments(plans["prod"])["wallet"]["inputs"]["spec"]
    zone, host = wallet["template"]["spec"]["topologySpreadConstraints"]
    assert (
        zone["topologyKey"] == "topology.kubernetes.io/zone" and zone["whenUnsatisfiable"] == "DoNotSchedule"
    )
    assert host["topologyKey"] == "kubernetes.io/hostname" and host["whenUnsatisfiable"] == "ScheduleAnyway"
    dev_wallet = _deployments(plans["dev"])["wallet"]["inputs"]["spec"]  # 1 replica over 2 zones
    assert (
        dev_wallet["template"]["spec"]["topologySpreadConstraints"][0]["whenUnsatisfiable"]
        == "ScheduleAnyway"
    )


def test_removing_an_exchange_is_not_blocked_by_protected_state(
    plans: dict[str, Any], ecs_plan: dict[str, Any]
) -> None:
    for plan in (plans["prod"], ecs_plan):
        exchange_owned = [
            r
            for r in plan["resources"]
            if r["inputs"].get("tags", {}).get("service", "").startswith("exchange-")
        ]
        assert exchange_owned
        assert not [r["name"] for r in exchange_owned if r["protect"]]
    secret = next(
        s
        for s in of_type(plans["prod"], "aws:secretsmanager/secret:Secret")
        if s["inputs"]["name"] == "walletops/prod/exchange-kraken/credentials"
    )
    assert secret["inputs"]["recoveryWindowInDays"] == 30


def test_services_wait_for_the_database_bootstrap(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    [job] = workload_objects(plan, "batch/v1:Job")
    for name, deployment in _deployments(plan).items():
        assert job["urn"] in deployment["dependencies"], name
    rds = one(plan, "aws:rds/instance:Instance")
    assert rds["urn"] in job["dependencies"]
    pod = job["inputs"]["spec"]["template"]["spec"]
    [init] = pod["initContainers"]
    assert init["securityContext"]["runAsNonRoot"] is True
    env = {item["name"]: item["value"] for item in pod["containers"][0]["env"]}
    assert json.loads(env["BOOTSTRAP_ROLES"]) == sorted(
        ["wallet", "roundups", "exchange_coinbase", "exchange_alpaca", "exchange_kraken"]
    )


def test_cache_url_and_exchange_credentials_never_appear_in_plain_env(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    for name, deployment in _deployments(plan).items():
        pod = deployment["inputs"]["spec"]["template"]["spec"]
        env = {item["name"]: item for item in pod["containers"][0]["env"]}
        if name == "wallet" or name.startswith("exchange-"):
            url = env["WALLETSTUB_CACHE_URL"]["value"]
            assert url.startswith(f"rediss://wallet-prod-cache-{name}@") and ":" not in url.split("@")[0][9:]
            assert env["WALLETSTUB_CACHE_IAM_AUTH"]["value"] == "1"
            assert env["WALLETSTUB_CACHE_NAME"]["value"] == "wallet-prod-cache"
        assert not any("valueFrom" in item for item in pod["containers"][0]["env"]), name
        if name.startswith("exchange-"):
            [init] = pod["initContainers"]
            init_env = {item["name"]: item["value"] for item in init["env"]}
            secret = next(
                s
                for s in of_type(plan, "aws:secretsmanager/secret:Secret")
                if s["inputs"]["name"] == f"walletops/prod/{name}/credentials"
            )
            assert init_env["SECRET_ARN"] == mock_arn(plan, secret)
            assert env["WALLETSTUB_EXCHANGE_CREDENTIALS_FILE"]["value"] == init_env["TARGET_FILE"]
            volume = next(v for v in pod["volumes"] if v["name"] == "secrets")
            assert volume["emptyDir"]["medium"] == "Memory"


def test_ecs_tasks_log_in_to_the_cache_with_iam(ecs_plan: dict[str, Any]) -> None:
    task = next(
        t
        for t in of_type(ecs_plan, "aws:ecs/taskDefinition:TaskDefinition")
        if t["name"] == "wallet-qa-wallet-task"
    )
    [container] = json.loads(task["inputs"]["containerDefinitions"])
    assert "secrets" not in container
    env = {item["name"]: item["value"] for item in container["environment"]}
    assert env["WALLETSTUB_CACHE_URL"].startswith("rediss://wallet-qa-cache-wallet@")
    assert env["WALLETSTUB_CACHE_IAM_AUTH"] == "1"


def test_each_service_may_log_in_as_its_own_cache_user_only(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    group = one(plan, "aws:elasticache/replicationGroup:ReplicationGroup")["inputs"]["replicationGroupId"]
    users = {u["inputs"]["userName"] for u in of_type(plan, "aws:elasticache/user:User")}
    arn = f"arn:aws:elasticache:eu-west-1:{ACCOUNT_ID}"
    for name in ("wallet", "exchange-kraken"):
        policy = next(
            p
            for p in of_type(plan, "aws:iam/rolePolicy:RolePolicy")
            if p["name"] == f"wallet-prod-{name}-permissions"
        )
        [login] = [
            s for s in json.loads(policy["inputs"]["policy"])["Statement"] if s["Sid"] == "CacheIamLogin"
        ]
        assert login["Action"] == "elasticache:Connect"
        assert f"wallet-prod-cache-{name}" in users
        assert login["Resource"] == [
            f"{arn}:replicationgroup:{group}",
            f"{arn}:user:wallet-prod-cache-{name}",
        ]


def test_the_apm_token_is_a_mounted_secret_file_never_an_environment_variable(plans: dict[str, Any]) -> None:
    """checkov CKV_K8S_35: the token reaches the services as a file of the secret's volume."""
    for name, deployment in _deployments(plans["prod"]).items():
        pod = deployment["inputs"]["spec"]["template"]["spec"]
        [container] = pod["containers"]
        env = {item["name"]: item for item in container["env"]}
        assert "WALLETSTUB_APM_SECRET_TOKEN" not in env, name
        path = env["WALLETSTUB_APM_SECRET_TOKEN_FILE"]["value"]
        [mount] = [m for m in container["volumeMounts"] if m["name"] == "apm-token"]
        assert mount["readOnly"] is True
        [volume] = [v for v in pod["volumes"] if v["name"] == "apm-token"]
        secret = volume["secret"]
        assert secret["secretName"] == "walletops-apm-token"  # pragma: allowlist secret
        assert "optional" not in secret, "ECK owns it"
        [item] = secret["items"]
        assert item["key"] == "secret-token" and path == f"{mount['mountPath']}/{item['path']}"


def test_services_are_told_their_environment_and_image_version(
    plans: dict[str, Any], ecs_plan: dict[str, Any]
) -> None:
    for name, deployment in _deployments(plans["prod"]).items():
        env = {
            e["name"]: e["value"]
            for e in deployment["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        assert env["WALLETSTUB_ENVIRONMENT"] == "prod", name
        assert env["WALLETSTUB_SERVICE_VERSION"] == "1.4.0", name
    task = next(
        t
        for t in of_type(ecs_plan, "aws:ecs/taskDefinition:TaskDefinition")
        if t["name"] == "wallet-qa-wallet-task"
    )
    [container] = json.loads(task["inputs"]["containerDefinitions"])
    env = {item["name"]: item["value"] for item in container["environment"]}
    assert env["WALLETSTUB_ENVIRONMENT"] == "qa"
    assert env["WALLETSTUB_SERVICE_VERSION"] == image_version(container["image"])


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("ghcr.io/walletco/wallet:1.4.0", "1.4.0"),
        ("localhost:5000/walletco/wallet:1.4.0-rc1@sha256:" + "a" * 64, "1.4.0-rc1"),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/prod/wallet@sha256:" + "0123456789ab" + "c" * 52,
            "sha256:0123456789ab",
        ),
        ("localhost:5000/walletco/wallet", "latest"),
    ],
)
def test_the_version_is_the_image_tag_or_its_digest(image: str, version: str) -> None:
    assert image_version(image) == version
