"""IAM: the CI role trusts only GitHub OIDC for this repo and environment, may deploy, cannot escalate."""

from __future__ import annotations

import json
from typing import Any

import pytest
from plan_helpers import of_type, one
from policy_eval import is_allowed

from infra.iam import GITHUB_OIDC_HOST
from infra.planner import ACCOUNT_ID


@pytest.mark.parametrize("env", ["dev", "qa", "stage", "prod"])
def test_ci_deploy_role_trusts_only_this_repository_and_environment(plans: dict[str, Any], env: str) -> None:
    role = next(r for r in of_type(plans[env], "aws:iam/role:Role") if r["name"].endswith("ci-deploy"))
    [statement] = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(f"oidc-provider/{GITHUB_OIDC_HOST}")
    assert statement["Condition"] == {
        "StringEquals": {
            f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
            f"{GITHUB_OIDC_HOST}:sub": f"repo:walletco/walletops:environment:{env}",
        }
    }


def test_no_policy_allows_every_action_on_every_resource(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        for policy in of_type(plan, "aws:iam/rolePolicy:RolePolicy"):
            for statement in json.loads(policy["inputs"]["policy"])["Statement"]:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                resources = (
                    statement["Resource"]
                    if isinstance(statement["Resource"], list)
                    else [statement["Resource"]]
                )
                assert not ("*" in actions and "*" in resources), policy["name"]


def test_an_iam_role_per_service(plans: dict[str, Any]) -> None:
    for env, plan in plans.items():
        names = {r["name"] for r in of_type(plan, "aws:iam/role:Role")}
        services = plan["outputs"]["services"]
        assert {f"wallet-{env}-{service}-irsa" for service in services} <= names


def _deploy(plan: dict[str, Any]) -> tuple[str, str, str]:
    """(deploy role ARN, its inline policy, the boundary policy) of a plan."""
    role = next(r for r in of_type(plan, "aws:iam/role:Role") if r["name"].endswith("-ci-deploy"))
    policy = next(
        p
        for p in of_type(plan, "aws:iam/rolePolicy:RolePolicy")
        if p["name"].endswith("ci-deploy-permissions")
    )
    boundary = one(plan, "aws:iam/policy:Policy")
    return (
        f"arn:aws:iam::{ACCOUNT_ID}:role/{role['inputs']['name']}",
        policy["inputs"]["policy"],
        boundary["inputs"]["policy"],
    )


def test_every_role_of_the_program_carries_the_deploy_boundary(
    plans: dict[str, Any], ecs_plan: dict[str, Any]
) -> None:
    for plan in [*plans.values(), ecs_plan]:
        boundary = one(plan, "aws:iam/policy:Policy")
        arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/{boundary['inputs']['name']}"
        for role in of_type(plan, "aws:iam/role:Role"):
            assert role["inputs"].get("permissionsBoundary") == arn, role["name"]


def test_deploy_policy_names_verbs_never_a_whole_service(plans: dict[str, Any]) -> None:
    _, policy, _ = _deploy(plans["prod"])
    for statement in json.loads(policy)["Statement"]:
        for action in statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]:
            assert action != "*" and not action.endswith(":*"), action


SERVICE_PREFIX = {
    "accessanalyzer": "access-analyzer",
    "acm": "acm",
    "acmpca": "acm-pca",
    "networkfirewall": "network-firewall",
    "route53": "route53",
    "appautoscaling": "application-autoscaling",
    "cfg": "config",
    "codebuild": "codebuild",
    "cognito": "cognito-idp",
    "codeconnections": "codeconnections",
    "cloudtrail": "cloudtrail",
    "guardduty": "guardduty",
    "securityhub": "securityhub",
    "autoscaling": "autoscaling",
    "apigateway": "apigateway",
    "budgets": "budgets",
    "ebs": "ec2",
    "ec2": "ec2",
    "vpc": "ec2",
    "ecs": "ecs",
    "eks": "eks",
    "elasticache": "elasticache",
    "iam": "iam",
    "kms": "kms",
    "lb": "elasticloadbalancing",
    "rds": "rds",
    "s3": "s3",
    "secretsmanager": "secretsmanager",
    "sns": "sns",
    "wafv2": "wafv2",
}


def _prefix(type_token: str) -> str:
    module, kind = type_token.split(":")[1].split("/")
    if module == "cloudwatch":
        return "logs" if kind.startswith("log") else "cloudwatch"
    return SERVICE_PREFIX[module]


def test_deploy_role_may_manage_every_service_the_program_uses(
    plans: dict[str, Any], ecs_plan: dict[str, Any]
) -> None:
    for plan in [plans["prod"], ecs_plan]:
        _, policy, boundary = _deploy(plan)
        allowed = {
            str(action).split(":")[0]
            for statement in json.loads(policy)["Statement"]
            for action in (
                statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            )
        }
        used = {_prefix(r["type"]) for r in plan["resources"] if r["type"].startswith("aws:") and r["custom"]}
        assert used <= allowed, f"the deploy role cannot manage {sorted(used - allowed)}"
        boundary_services = {
            str(a).split(":")[0]
            for s in json.loads(boundary)["Statement"]
            if s["Effect"] == "Allow"
            for a in s["Action"]
        }
        assert used <= boundary_services


def test_deploy_role_can_do_its_job(plans: dict[str, Any]) -> None:
    _, policy, boundary = _deploy(plans["prod"])
    region = {"aws:RequestedRegion": "eu-west-1"}
    boundary_arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/wallet-prod-deploy-boundary"
    assert is_allowed(
        [policy],
        boundary,
        "autoscaling:AttachLoadBalancerTargetGroups",
        "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:x",
        region,
    )
    assert is_allowed(
        [policy],
        boundary,
        "budgets:ModifyBudget",
        f"arn:aws:budgets::{ACCOUNT_ID}:budget/wallet-prod-monthly",
        {"aws:RequestedRegion": "us-east-1"},
    ), "Budgets is served from us-east-1"
    assert is_allowed(
        [policy],
        boundary,
        "iam:CreateRole",
        f"arn:aws:iam::{ACCOUNT_ID}:role/wallet-prod-new-irsa",
        {"iam:PermissionsBoundary": boundary_arn},
    )
    assert not is_allowed([policy], boundary, "ec2:CreateVpc", "*", {"aws:RequestedRegion": "us-west-2"})
    assert not is_allowed([policy], boundary, "kms:Decrypt", f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/x")
    assert not is_allowed([policy], boundary, "s3:DeleteBucket", "arn:aws:s3:::someone-elses-bucket")
    assert not is_allowed(
        [policy],
        boundary,
        "secretsmanager:GetSecretValue",
        f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT_ID}:secret:walletops/stage/wallet/cache",
    ), "prod's deploy role reads no other environment's secrets"


@pytest.mark.parametrize(
    ("action", "resource", "context"),
    [
        ("iam:PutRolePolicy", "SELF", {"iam:PermissionsBoundary": "BOUNDARY"}),
        ("iam:AttachRolePolicy", "SELF", {"iam:PermissionsBoundary": "BOUNDARY"}),
        ("iam:UpdateAssumeRolePolicy", "SELF", {"iam:PermissionsBoundary": "BOUNDARY"}),
        ("iam:DeleteRolePermissionsBoundary", "SELF", {}),
        ("iam:DeleteRolePermissionsBoundary", "arn:aws:iam::123456789012:role/wallet-prod-wallet-irsa", {}),
        ("iam:PutRolePermissionsBoundary", "arn:aws:iam::123456789012:role/wallet-prod-wallet-irsa", {}),
        ("iam:CreatePolicyVersion", "BOUNDARY", {}),
        ("iam:DeletePolicy", "BOUNDARY", {}),
        ("iam:CreateRole", "arn:aws:iam::123456789012:role/wallet-prod-escape", {}),
        (
            "iam:PutRolePolicy",
            "arn:aws:iam::123456789012:role/wallet-prod-escape",
            {"iam:PermissionsBoundary": "arn:aws:iam::aws:policy/AdministratorAccess"},
        ),
        ("iam:CreateUser", "arn:aws:iam::123456789012:user/backdoor", {}),
        ("iam:CreateAccessKey", "arn:aws:iam::123456789012:user/backdoor", {}),
        (
            "iam:UpdateOpenIDConnectProviderThumbprint",
            "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
            {},
        ),
        (
            "iam:PutRolePolicy",
            "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole",
            {"iam:PermissionsBoundary": "BOUNDARY"},
        ),
    ],
)
def test_deploy_role_cannot_escalate(
    plans: dict[str, Any], action: str, resource: str, context: dict[str, str]
) -> None:
    role, policy, boundary = _deploy(plans["prod"])
    boundary_arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/wallet-prod-deploy-boundary"
    resolve = {"SELF": role, "BOUNDARY": boundary_arn}
    ctx = {key: resolve.get(value, value) for key, value in context.items()}
    assert not is_allowed([policy], boundary, action, resolve.get(resource, resource), ctx)


def test_deploy_role_may_update_the_trust_of_this_environments_roles_only(plans: dict[str, Any]) -> None:
    """IAM gives no iam:PermissionsBoundary key to iam:UpdateAssumeRolePolicy: a boundary condition on
    it would deny every trust update (e.g. a new cluster issuer for IRSA); the role name scopes it."""
    role, policy, boundary = _deploy(plans["prod"])
    ours = f"arn:aws:iam::{ACCOUNT_ID}:role/wallet-prod-wallet-irsa"
    assert is_allowed([policy], boundary, "iam:UpdateAssumeRolePolicy", ours, {})
    assert not is_allowed(
        [policy], boundary, "iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{ACCOUNT_ID}:role/wallet-stage-x", {}
    )
    assert not is_allowed([policy], boundary, "iam:UpdateAssumeRolePolicy", role, {})


def test_deploy_role_manages_keys_in_the_replica_region_too(plans: dict[str, Any]) -> None:
    _role, policy, boundary = _deploy(plans["prod"])
    replica_key = f"arn:aws:kms:eu-central-1:{ACCOUNT_ID}:key/k1"
    assert is_allowed([policy], boundary, "kms:CreateKey", "*", {"aws:RequestedRegion": "eu-central-1"})
    assert is_allowed([policy], boundary, "kms:PutKeyPolicy", replica_key)
    assert not is_allowed([policy], boundary, "kms:CreateKey", "*", {"aws:RequestedRegion": "us-east-2"})
    assert is_allowed(
        [policy], boundary, "s3:PutReplicationConfiguration", "arn:aws:s3:::wallet-prod-audit-archive-x"
    )


def test_deploy_role_grants_nothing_restrictable_on_every_resource_without_a_condition(
    plans: dict[str, Any],
) -> None:
    """checkov CKV_AWS_290/355: an action IAM can scope to a resource is never granted on ``*``
    unconditioned; only Route 53's zone creation and listing (which take no resource) are."""
    _, policy, boundary = _deploy(plans["prod"])
    open_statements = [
        statement
        for statement in json.loads(policy)["Statement"]
        if statement["Resource"] == "*" and "Condition" not in statement
    ]
    assert [sorted(s["Action"]) for s in open_statements] == [
        ["route53:CreateHostedZone", "route53:ListHostedZones"]
    ]
    zone = "arn:aws:route53:::hostedzone/Z0123456789ABC"
    assert is_allowed([policy], boundary, "route53:ChangeResourceRecordSets", zone, {})
    assert is_allowed(
        [policy],
        boundary,
        "route53:AssociateVPCWithHostedZone",
        f"arn:aws:ec2:eu-west-1:{ACCOUNT_ID}:vpc/vpc-1",
        {},
    )
    assert not is_allowed([policy], boundary, "route53:ChangeResourceRecordSets", "*", {})
    assert is_allowed([policy], boundary, "route53:ChangeTagsForResource", zone, {})
