"""The whole program: what each environment must contain, tags everywhere, exchanges as config edits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from plan_helpers import of_type, workload_objects

from contracts.config import STANDARD_TAG_KEYS, load_environment
from infra.planner import plan_environments

UNTAGGABLE_PREFIXES = ("kubernetes:", "pulumi:", "walletops:", "random:")


@pytest.mark.parametrize("env", ["dev", "qa", "stage", "prod"])
def test_done_when_each_environment_has_the_platform(plans: dict[str, Any], env: str) -> None:
    plan = plans[env]
    types = {r["type"] for r in plan["resources"]}
    assert {
        "aws:ec2/vpc:Vpc",
        "aws:kms/key:Key",
        "aws:eks/cluster:Cluster",
        "aws:rds/instance:Instance",
        "aws:elasticache/replicationGroup:ReplicationGroup",
    } <= types
    services = plan["outputs"]["services"]
    exchanges = [s for s in services if s.startswith("exchange-")]
    assert len(exchanges) == len(load_environment(env, Path(__file__).resolve().parents[2]).exchanges) >= 2
    deployments = {d["inputs"]["metadata"]["name"] for d in workload_objects(plan, "apps/v1:Deployment")}
    assert deployments == set(services)


def test_every_taggable_resource_carries_the_standard_tags(plans: dict[str, Any]) -> None:
    import pulumi_aws  # noqa: F401  (types below are checked against its resource classes)

    for plan in plans.values():
        for resource in plan["resources"]:
            if resource["type"].startswith(UNTAGGABLE_PREFIXES) or "tags" not in _accepted_inputs(
                resource["type"]
            ):
                continue
            tags = resource["inputs"].get("tags") or {}
            assert set(STANDARD_TAG_KEYS) <= set(tags), (
                f"{resource['urn']} lacks {set(STANDARD_TAG_KEYS) - set(tags)}"
            )


def _accepted_inputs(type_token: str) -> set[str]:
    """camelCase input names a pulumi-aws resource type accepts (from its generated Args class)."""
    import importlib
    import inspect

    _, module_path, name = type_token.split(":")
    module = importlib.import_module(f"pulumi_aws.{module_path.split('/')[0]}")
    args_class = getattr(module, f"{name}Args")
    params = inspect.signature(args_class.__init__).parameters
    return {_camel(p) for p in params if p not in ("self", "__self__")}


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


def test_stateful_resources_are_protected_in_prod_only(plans: dict[str, Any]) -> None:
    stateful = (
        "aws:rds/instance:Instance",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:eks/cluster:Cluster",
        "aws:s3/bucket:Bucket",
    )
    for type_token in stateful:
        assert all(r["protect"] for r in of_type(plans["prod"], type_token)), type_token
        assert not any(r["protect"] for r in of_type(plans["qa"], type_token)), type_token


def _plan_dev(project: Path) -> dict[str, dict[str, Any]]:
    plan = plan_environments([load_environment("dev", project)], project)["dev"].to_document()
    return {r["urn"]: r for r in plan["resources"]}


def test_adding_an_exchange_adds_exactly_its_resources_and_removing_removes_them(
    plans: dict[str, Any], project_copy: Callable[[], Path]
) -> None:
    project = project_copy()
    path = project / "Pulumi.dev.yaml"
    document = yaml.safe_load(path.read_text())
    extra = {
        **document["config"]["walletops:exchanges"][0],
        "name": "bitstamp",
        "base_url": "https://www.bitstamp.net",
        "egress_hosts": ["www.bitstamp.net"],
    }
    document["config"]["walletops:exchanges"].append(extra)
    path.write_text(yaml.safe_dump(document))
    before = {r["urn"]: r for r in plans["dev"]["resources"]}
    after = _plan_dev(project)

    added = set(after) - set(before)
    assert set(before) <= set(after)
    assert added and all("bitstamp" in urn for urn in added)
    kinds = {after[urn]["type"] for urn in added}
    assert {
        "kubernetes:apps/v1:Deployment",
        "kubernetes:core/v1:ServiceAccount",
        "aws:iam/role:Role",
        "aws:secretsmanager/secret:Secret",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "aws:apigateway/resource:Resource",
        "aws:lb/listener:Listener",
    } <= kinds

    document["config"]["walletops:exchanges"] = [
        e for e in document["config"]["walletops:exchanges"] if e["name"] != "coinbase"
    ]
    path.write_text(yaml.safe_dump(document))
    removed_plan = _plan_dev(project)
    removed = set(after) - set(removed_plan)
    assert removed and all("coinbase" in urn for urn in removed)
    assert set(removed_plan) - set(after) == set()
