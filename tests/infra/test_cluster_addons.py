"""The Cluster Autoscaler: scales only this cluster's node groups, within their configured limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plan_helpers import of_type
from policy_eval import is_allowed

from contracts.config import load_environment
from infra.cluster_addons import autoscaler_args, autoscaler_policy

ROOT = Path(__file__).resolve().parents[2]


def _autoscaler(plan: dict[str, Any]) -> dict[str, Any]:
    [deployment] = [
        d
        for d in of_type(plan, "kubernetes:apps/v1:Deployment")
        if d["inputs"]["metadata"]["name"] == "cluster-autoscaler"
    ]
    return deployment


def test_every_eks_environment_runs_the_autoscaler_for_its_own_cluster(plans: dict[str, Any]) -> None:
    for env, plan in plans.items():
        deployment = _autoscaler(plan)
        assert deployment["inputs"]["metadata"]["namespace"] == "kube-system"
        [container] = deployment["inputs"]["spec"]["template"]["spec"]["containers"]
        cluster = next(c for c in of_type(plan, "aws:eks/cluster:Cluster"))["inputs"]["name"]
        assert (
            f"--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,"
            f"k8s.io/cluster-autoscaler/{cluster}" in container["command"]
        ), env
        assert container["image"].split("@")[0].endswith(":v1.35.0"), "autoscaler minor = cluster minor"
        assert container["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        groups = {g["urn"] for g in of_type(plan, "aws:eks/nodeGroup:NodeGroup")}
        assert groups <= set(deployment["dependencies"])


def test_the_autoscaler_may_resize_only_this_clusters_groups() -> None:
    policy = autoscaler_policy("wallet-prod-cluster", "123456789012", "eu-west-1")
    group = "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:1:autoScalingGroupName/eks-x"
    not_eks = "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:1:autoScalingGroupName/ci"
    ours = {"aws:ResourceTag/k8s.io/cluster-autoscaler/wallet-prod-cluster": "owned"}
    assert is_allowed([policy], None, "autoscaling:SetDesiredCapacity", group, ours)
    assert not is_allowed([policy], None, "autoscaling:SetDesiredCapacity", group, {})
    other = {"aws:ResourceTag/k8s.io/cluster-autoscaler/wallet-stage-cluster": "owned"}
    assert not is_allowed([policy], None, "autoscaling:TerminateInstanceInAutoScalingGroup", group, other)
    assert not is_allowed([policy], None, "autoscaling:UpdateAutoScalingGroup", group, ours)
    assert not is_allowed([policy], None, "autoscaling:SetDesiredCapacity", not_eks, ours)
    nodegroup = "arn:aws:eks:eu-west-1:123456789012:nodegroup/wallet-prod-cluster/general/abc"
    assert is_allowed([policy], None, "eks:DescribeNodegroup", nodegroup, {})
    assert not is_allowed([policy], None, "eks:DescribeNodegroup", nodegroup.replace("prod", "stage"), {})
    assert all(
        s["Resource"] != "*"
        for s in json.loads(policy)["Statement"]
        if s["Sid"] != "DiscoverGroupsAndInstanceTypes"
    )


def test_the_autoscalers_role_trusts_only_its_service_account(plans: dict[str, Any]) -> None:
    role = next(
        r
        for r in of_type(plans["prod"], "aws:iam/role:Role")
        if r["name"].endswith("cluster-autoscaler-irsa")
    )
    [statement] = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert (
        "system:serviceaccount:kube-system:cluster-autoscaler"
        in statement["Condition"]["StringEquals"].values()
    )


def test_scale_down_settings_come_from_config() -> None:
    model = load_environment("prod", ROOT)
    args = autoscaler_args("c", model)
    assert "--scale-down-unneeded-time=10m" in args and "--expander=least-waste" in args
