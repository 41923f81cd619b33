"""CI reaches the private cluster API from inside the VPC: a CodeBuild-hosted GitHub Actions runner."""

from __future__ import annotations

import json
from typing import Any

from plan_helpers import of_type, one

from infra.ci_runner import runner_label


def test_the_runner_runs_in_the_private_app_subnets_for_queued_workflow_jobs(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    project = one(plan, "aws:codebuild/project:Project")
    app_subnets = {
        s["urn"] for s in of_type(plan, "aws:ec2/subnet:Subnet") if s["inputs"]["tags"]["tier"] == "app"
    }
    assert app_subnets <= set(project["dependencies"])
    assert project["inputs"]["vpcConfig"]["securityGroupIds"]
    assert project["inputs"]["environment"]["privilegedMode"] is False
    assert project["inputs"]["source"]["location"] == "https://github.com/walletco/walletops.git"
    webhook = one(plan, "aws:codebuild/webhook:Webhook")["inputs"]
    assert webhook["filterGroups"] == [{"filters": [{"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"}]}]
    assert plan["outputs"]["ci_runner_label"] == runner_label("wallet-prod-deploy-runner")
    assert plan["outputs"]["ci_runner_label"].startswith(
        "codebuild-wallet-prod-deploy-runner-${{ github.run_id }}"
    )


def test_the_runner_may_reach_the_cluster_api_and_nothing_inbound(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    runner_sg = next(
        g for g in of_type(plan, "aws:ec2/securityGroup:SecurityGroup") if g["name"].endswith("sg-ci-runner")
    )
    [api] = [
        r
        for r in of_type(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r["name"].endswith("cluster-api-from-ci-runner")
    ]
    assert (
        runner_sg["urn"] in api["dependencies"]
        and api["inputs"]["fromPort"] == 443 == api["inputs"]["toPort"]
    )
    cluster = one(plan, "aws:eks/cluster:Cluster")
    assert cluster["urn"] in api["dependencies"], "the rule opens the EKS cluster security group"
    assert not [
        r
        for r in of_type(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if runner_sg["urn"] in r["dependencies"] and not r["name"].endswith("cluster-api-from-ci-runner")
    ]


def test_the_runners_own_role_can_only_log_attach_to_its_vpc_and_use_the_connection(
    plans: dict[str, Any],
) -> None:
    plan = plans["stage"]
    policy = next(
        p
        for p in of_type(plan, "aws:iam/rolePolicy:RolePolicy")
        if p["name"].endswith("ci-runner-permissions")
    )
    actions = {
        a
        for s in json.loads(policy["inputs"]["policy"])["Statement"]
        for a in s["Action"]
        if isinstance(s["Action"], list)
    } | {
        s["Action"]
        for s in json.loads(policy["inputs"]["policy"])["Statement"]
        if isinstance(s["Action"], str)
    }
    assert not any(a.startswith(("iam:", "eks:", "sts:")) for a in actions), (
        "deploying is the deploy role's job"
    )
    attach = next(
        s for s in json.loads(policy["inputs"]["policy"])["Statement"] if s["Sid"] == "AttachToThisVpcOnly"
    )
    assert attach["Condition"]["ArnEquals"]["ec2:Vpc"].startswith("arn:aws:ec2:eu-west-1:")
    assert sorted(arn.split(":")[-1] for arn in attach["Resource"]) == [
        "network-interface/*",
        "security-group/*",
        "subnet/*",
    ]
