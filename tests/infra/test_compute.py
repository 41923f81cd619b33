"""Compute: EKS private in stage/prod, secrets encrypted, logs on, IMDSv2, encrypted gp3; ECS when chosen."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from plan_helpers import key_arn_of, of_type, one

from contracts.config import load_environment
from infra.compute import CONTROL_PLANE_LOGS
from infra.planner import plan_environments


@pytest.mark.parametrize(("env", "public"), [("dev", True), ("qa", True), ("stage", False), ("prod", False)])
def test_eks_cluster_security(plans: dict[str, Any], env: str, public: bool) -> None:
    plan = plans[env]
    cluster = one(plan, "aws:eks/cluster:Cluster")["inputs"]
    assert cluster["vpcConfig"]["endpointPrivateAccess"] is True
    assert cluster["vpcConfig"]["endpointPublicAccess"] is public
    if public:
        assert "0.0.0.0/0" not in cluster["vpcConfig"]["publicAccessCidrs"]
    assert cluster["encryptionConfig"] == {
        "provider": {"keyArn": key_arn_of(plan, "secrets")},
        "resources": ["secrets"],
    }
    assert cluster["enabledClusterLogTypes"] == CONTROL_PLANE_LOGS
    assert cluster["upgradePolicy"] == {"supportType": "STANDARD"}
    assert cluster["accessConfig"]["authenticationMode"] == "API"


def test_nodes_require_imdsv2_and_encrypted_gp3_volumes(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        for template in of_type(plan, "aws:ec2/launchTemplate:LaunchTemplate"):
            assert template["inputs"]["metadataOptions"]["httpTokens"] == "required"
            [volume] = template["inputs"]["blockDeviceMappings"]
            assert volume["ebs"]["encrypted"] == "true"
            assert volume["ebs"]["volumeType"] == "gp3"
            assert volume["ebs"]["kmsKeyId"] == key_arn_of(plan, "ebs")


def test_node_groups_follow_config_in_private_subnets(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    groups = {g["inputs"]["nodeGroupName"]: g["inputs"] for g in of_type(plan, "aws:eks/nodeGroup:NodeGroup")}
    assert set(groups) == {"wallet-prod-ng-general", "wallet-prod-ng-burst"}
    assert groups["wallet-prod-ng-burst"]["capacityType"] == "SPOT"
    assert groups["wallet-prod-ng-general"]["scalingConfig"] == {
        "minSize": 3,
        "desiredSize": 6,
        "maxSize": 30,
    }
    app_subnets = {
        s["urn"] for s in of_type(plan, "aws:ec2/subnet:Subnet") if s["inputs"]["tags"]["tier"] == "app"
    }
    node_group = of_type(plan, "aws:eks/nodeGroup:NodeGroup")[0]
    assert {d for d in node_group["dependencies"] if ":ec2/subnet:" in d} == app_subnets


def test_ecs_fargate_is_selectable_per_environment(project_copy: Callable[[], Path]) -> None:
    project = project_copy()
    path = project / "Pulumi.qa.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["walletops:compute_engine"] = "ecs"
    document["config"]["walletops:loadtest"]["in_cluster"] = False
    del document["config"]["walletops:kubernetes"]
    path.write_text(yaml.safe_dump(document))
    plan = plan_environments([load_environment("qa", project)], project)["qa"].to_document()
    types = {r["type"] for r in plan["resources"]}
    assert "aws:eks/cluster:Cluster" not in types and not any(t.startswith("kubernetes:") for t in types)
    assert one(plan, "aws:ecs/cluster:Cluster")["inputs"]["settings"] == [
        {"name": "containerInsights", "value": "enabled"}
    ]
    services = of_type(plan, "aws:ecs/service:Service")
    assert len(services) == len(plan["outputs"]["services"])
    assert all(s["inputs"]["networkConfiguration"]["assignPublicIp"] is False for s in services)
    assert len(of_type(plan, "aws:appautoscaling/policy:Policy")) == len(services)
    nlb_dns = one(plan, "aws:lb/loadBalancer:LoadBalancer")["inputs"]["name"]
    roundups = next(
        t for t in of_type(plan, "aws:ecs/taskDefinition:TaskDefinition") if "roundups" in t["name"]
    )
    [container] = json.loads(roundups["inputs"]["containerDefinitions"])
    env = {item["name"]: item["value"] for item in container["environment"]}
    assert env["WALLET_URL"].startswith(f"http://{nlb_dns}-") and env["WALLET_URL"].endswith(":30080")
    assert any(
        r["name"].endswith("out-app-to-lb")
        for r in of_type(plan, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    )
    for task in of_type(plan, "aws:ecs/taskDefinition:TaskDefinition"):
        assert '"readonlyRootFilesystem": true' in task["inputs"]["containerDefinitions"]
        assert '"user": "10001:10001"' in task["inputs"]["containerDefinitions"]
