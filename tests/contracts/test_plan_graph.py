"""The plan-graph model: shape checks, stable bytes, promotion order, and the graph queries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contracts.errors import UsageProblem
from contracts.plan_graph import (
    ENVELOPE_KEY,
    ENVELOPE_SIGNATURE,
    PlanGraph,
    kubernetes_kind,
    kubernetes_manifest,
    read_plan,
    write_plan,
)


def _resource(urn: str, typ: str, parent: str | None = None, **inputs: Any) -> dict[str, Any]:
    return {
        "urn": urn,
        "type": typ,
        "name": urn.rsplit("::", 1)[-1],
        "custom": not typ.startswith("walletops:"),
        "parent": parent,
        "dependencies": [],
        "provider": None,
        "protect": False,
        "inputs": inputs,
    }


STACK = "urn:pulumi:dev::walletops::pulumi:pulumi:Stack::walletops-dev"
COMPUTE = "urn:pulumi:dev::walletops::walletops:compute:Compute::compute"
WORKLOADS = "urn:pulumi:dev::walletops::walletops:workloads:Workloads::workloads"


def _document() -> dict[str, Any]:
    resources = [
        _resource(COMPUTE, "walletops:compute:Compute"),
        _resource(
            "urn:pulumi:dev::walletops::aws:eks/cluster:Cluster::cluster", "aws:eks/cluster:Cluster", COMPUTE
        ),
        _resource(WORKLOADS, "walletops:workloads:Workloads"),
        _resource(
            "urn:pulumi:dev::walletops::kubernetes:apps/v1:Deployment::wallet",
            "kubernetes:apps/v1:Deployment",
            WORKLOADS,
            metadata={"name": "wallet", "namespace": "wallet"},
            spec={"replicas": 2},
        ),
        _resource(
            "urn:pulumi:dev::walletops::kubernetes:core/v1:Namespace::wallet",
            "kubernetes:core/v1:Namespace",
            WORKLOADS,
            metadata={"name": "wallet"},
        ),
        _resource(
            "urn:pulumi:dev::walletops::kubernetes:helm.sh/v3:Release::autoscaler",
            "kubernetes:helm.sh/v3:Release",
            WORKLOADS,
        ),
        _resource("urn:pulumi:dev::walletops::aws:s3/bucket:Bucket::loose", "aws:s3/bucket:Bucket", STACK),
    ]
    env = {"region": "eu-west-1", "resources": resources, "outputs": {"environment": "dev"}}
    return {"format": 1, "environments": {"prod": env | {"resources": []}, "dev": env}}


def test_environments_come_back_in_promotion_order_whatever_the_file_order() -> None:
    graph = PlanGraph.from_document(json.loads(json.dumps(_document(), sort_keys=True)))
    assert graph.names == ["dev", "prod"]


def test_json_is_stable_and_round_trips(tmp_path: Path) -> None:
    graph = PlanGraph.from_document(_document())
    write_plan(graph, tmp_path / "a" / "plan.json")
    again = read_plan(tmp_path / "a" / "plan.json")
    assert again.to_json() == graph.to_json()
    assert (tmp_path / "a" / "plan.json").read_text() == graph.to_json()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not a plan"),
        ({"environments": {"dev": {}}}, "environment 'dev' has no 'resources' list"),
        ({"environments": {"dev": {"resources": [{"urn": "u"}]}}}, "resources[0] lacks type, name"),
        ({"format": 2, "environments": {}}, "plan format 2 is not supported; allowed: 1"),
    ],
)
def test_a_wrong_shape_names_what_is_wrong(document: Any, message: str) -> None:
    with pytest.raises(UsageProblem, match=message.replace("[", r"\[").replace("]", r"\]")):
        PlanGraph.from_document(document, "plan.json")


def test_read_plan_names_the_option_and_path(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UsageProblem, match=r"--plan .*bad.json: not JSON"):
        read_plan(tmp_path / "bad.json")
    with pytest.raises(UsageProblem, match=r"--plan .*absent.json: file not found"):
        read_plan(tmp_path / "absent.json")


def test_select_keeps_the_asked_order_and_refuses_a_missing_environment() -> None:
    graph = PlanGraph.from_document(_document())
    assert graph.select(["prod", "dev"]).names == ["prod", "dev"]
    with pytest.raises(UsageProblem, match="no environment qa in it; it has: dev, prod"):
        graph.select(["qa"])


def test_component_of_is_the_outermost_walletops_parent() -> None:
    dev = PlanGraph.from_document(_document())["dev"]
    components = {r["name"]: dev.component_of(r) for r in dev.resources}
    assert components["cluster"] == "Compute"
    assert components["compute"] == "Compute"
    assert components["loose"] == "stack"
    assert [r["name"] for r in dev.custom_resources] == ["cluster", "wallet", "wallet", "autoscaler", "loose"]
    assert [r["name"] for r in dev.children(WORKLOADS)] == ["wallet", "wallet", "autoscaler"]
    assert [r["name"] for r in dev.of_type("aws:eks/cluster:Cluster")] == ["cluster"]


def test_kubernetes_manifests_are_objects_with_api_version_and_kind() -> None:
    manifests = PlanGraph.from_document(_document())["dev"].kubernetes_manifests()
    assert [(m["apiVersion"], m["kind"], m["metadata"]["name"]) for m in manifests] == [
        ("apps/v1", "Deployment", "wallet"),
        ("v1", "Namespace", "wallet"),
    ]
    assert manifests[0]["spec"] == {"replicas": 2}


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("kubernetes:core/v1:Service", ("v1", "Service")),
        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", ("networking.k8s.io/v1", "NetworkPolicy")),
        (
            "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch",
            ("elasticsearch.k8s.elastic.co/v1", "Elasticsearch"),
        ),
        ("kubernetes:helm.sh/v3:Release", ("", "")),
        ("pulumi:providers:kubernetes", ("", "")),
        ("aws:eks/cluster:Cluster", ("", "")),
    ],
)
def test_kubernetes_kind_from_the_type_token(token: str, expected: tuple[str, str]) -> None:
    assert kubernetes_kind(token) == expected


def test_manifests_carry_the_shape_of_a_secret_never_its_value() -> None:
    envelope = {
        ENVELOPE_KEY: ENVELOPE_SIGNATURE,
        "value": {"url": "rediss://u:hunter2@cache:6379/0"},  # pragma: allowlist secret
    }
    secret = {
        "urn": "urn:pulumi:dev::walletops::kubernetes:core/v1:Secret::cache",
        "type": "kubernetes:core/v1:Secret",
        "name": "cache",
        "inputs": {"metadata": {"name": "cache", "namespace": "wallet"}, "stringData": envelope},
    }
    manifest = kubernetes_manifest(secret)
    assert manifest["stringData"] == {"url": "(sensitive)"}
    assert (manifest["apiVersion"], manifest["kind"]) == ("v1", "Secret")
    assert "hunter2" not in json.dumps(manifest)
    assert kubernetes_manifest({"urn": "u", "type": "aws:s3/bucket:Bucket", "name": "b"}) == {}
