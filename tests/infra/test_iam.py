"""IAM: the CI role trusts only GitHub OIDC for this repository and environment; no * on *."""

from __future__ import annotations

import json
from typing import Any

import pytest
from plan_helpers import of_type

from infra.iam import GITHUB_OIDC_HOST


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
