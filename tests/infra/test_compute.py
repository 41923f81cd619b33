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
from infra.planner import ACCOUNT_ID, plan_environments

ROOT = Path(__file__).resolve().parents[2]


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


def test_ecs_fargate_is_selectable_per_environment(ecs_plan: dict[str, Any]) -> None:
    plan = ecs_plan
    types = {r["type"] for r in plan["resources"]}
    assert "aws:eks/cluster:Cluster" not in types and not any(t.startswith("kubernetes:") for t in types)
    assert one(plan, "aws:ecs/cluster:Cluster")["inputs"]["settings"] == [
        {"name": "containerInsights", "value": "enabled"}
    ]
    services = of_type(plan, "aws:ecs/service:Service")
    assert len(services) == len(plan["outputs"]["services"])
    assert all(s["inputs"]["networkConfiguration"]["assignPublicIp"] is False for s in services)
    assert len(of_type(plan, "aws:appautoscaling/policy:Policy")) == len(services)
    roundups = next(
        t for t in of_type(plan, "aws:ecs/taskDefinition:TaskDefinition") if "roundups" in t["name"]
    )
    [container] = json.loads(roundups["inputs"]["containerDefinitions"])
    env = {item["name"]: item["value"] for item in container["environment"]}
    wallet_url = env["WALLETSTUB_WALLET_URL"]
    assert wallet_url == "https://nlb.qa.internal.walletco.example:30080"  # the NLB's TLS listener
    assert any(
        r["name"].endswith("out-app-to-lb")
        for r in of_type(plan, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    )
    for task in of_type(plan, "aws:ecs/taskDefinition:TaskDefinition"):
        for definition in json.loads(task["inputs"]["containerDefinitions"]):
            assert definition["readonlyRootFilesystem"] is True
            assert definition["user"] == "10001:10001" or definition["essential"] is False


def test_people_and_ci_get_cluster_access_and_the_provider_waits_for_it(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    entries = {e["inputs"]["principalArn"] for e in of_type(plan, "aws:eks/accessEntry:AccessEntry")}
    assert entries == {
        f"arn:aws:iam::{ACCOUNT_ID}:role/wallet-prod-ci-deploy",
        f"arn:aws:iam::{ACCOUNT_ID}:role/platform-admin",
        f"arn:aws:iam::{ACCOUNT_ID}:role/platform-readonly",
    }
    associations = of_type(plan, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    policies = {a["name"]: a["inputs"]["policyArn"].rsplit("/", 1)[-1] for a in associations}
    assert policies == {
        "wallet-prod-access-ci-deploy-cluster-admin": "AmazonEKSClusterAdminPolicy",
        "wallet-prod-access-platform-admin-cluster-admin": "AmazonEKSClusterAdminPolicy",
        "wallet-prod-access-platform-readonly-view": "AmazonEKSViewPolicy",
    }
    provider = one(plan, "pulumi:providers:kubernetes")
    assert {a["urn"] for a in associations} <= set(provider["dependencies"]), (
        "an access entry grants nothing until its policy is associated"
    )
    cluster = one(plan, "aws:eks/cluster:Cluster")["inputs"]
    assert cluster["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False


def test_addons_are_pinned_and_the_cni_enforces_network_policies(plans: dict[str, Any]) -> None:
    for env, plan in plans.items():
        addons = {a["inputs"]["addonName"]: a for a in of_type(plan, "aws:eks/addon:Addon")}
        model = load_environment(env, ROOT)
        assert model.kubernetes is not None and model.logging.eck is not None
        csi = addons.pop("aws-ebs-csi-driver")  # the observability component's, for ECK's volumes
        assert csi["inputs"]["addonVersion"] == model.logging.eck.ebs_csi_driver
        assert set(addons) == {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "metrics-server"}
        for name, addon in addons.items():
            assert addon["inputs"]["addonVersion"] == model.kubernetes.addons[name]
        assert json.loads(addons["vpc-cni"]["inputs"]["configurationValues"]) == {
            "enableNetworkPolicy": "true"
        }
        groups = {g["urn"] for g in of_type(plan, "aws:eks/nodeGroup:NodeGroup")}
        assert groups <= set(addons["metrics-server"]["dependencies"]), "metrics-server needs nodes to run on"
        for group in of_type(plan, "aws:eks/nodeGroup:NodeGroup"):
            assert addons["vpc-cni"]["urn"] in group["dependencies"], "nodes join with the CNI in place"


def test_spot_groups_are_tainted_and_on_demand_ones_are_not(plans: dict[str, Any]) -> None:
    groups = {
        g["inputs"]["nodeGroupName"]: g["inputs"]
        for g in of_type(plans["prod"], "aws:eks/nodeGroup:NodeGroup")
    }
    assert groups["wallet-prod-ng-burst"]["taints"] == [
        {"key": "walletops.io/capacity", "value": "spot", "effect": "NO_SCHEDULE"}
    ]
    assert "taints" not in groups["wallet-prod-ng-general"]


def test_node_ami_follows_the_instance_architecture(project_copy: Callable[[], Path]) -> None:
    project = project_copy()
    path = project / "Pulumi.dev.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["walletops:kubernetes"]["node_groups"][0]["instance_types"] = [
        "m7g.large",
        "c7g.large",
    ]
    path.write_text(yaml.safe_dump(document))
    plan = plan_environments([load_environment("dev", project)], project)["dev"].to_document()
    [group] = of_type(plan, "aws:eks/nodeGroup:NodeGroup")
    assert group["inputs"]["amiType"] == "AL2023_ARM_64_STANDARD"


def test_irsa_issuer_thumbprint_comes_from_config(plans: dict[str, Any]) -> None:
    issuer = next(
        p
        for p in of_type(plans["stage"], "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
        if "irsa" in p["name"]
    )
    model = load_environment("stage", ROOT)
    assert model.kubernetes is not None
    assert issuer["inputs"]["thumbprintLists"] == [model.kubernetes.oidc_thumbprint]
