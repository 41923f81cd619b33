"""parliament scanner: every policy document is found and checked; planted flaws carry its issue ids."""

from __future__ import annotations

import json

from scanner_worlds import graph, resource, role_policy

from infra.policy.scanners.parliament import documents, issue_types, scan

SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app-abcdef"


def test_a_least_privilege_policy_passes_every_issue() -> None:
    checks = scan(graph(role_policy("secretsmanager:GetSecretValue", resource_arn=SECRET)))
    assert len(checks) == len(issue_types()) and all(c.passed for c in checks)
    assert {c.subject for c in checks} == {"app-permissions policy"}


def test_a_wildcard_iam_action_on_every_resource_is_reported() -> None:
    failed = {c.check_id for c in scan(graph(role_policy("iam:*"))) if not c.passed}
    assert {"RESOURCE_STAR", "PRIVILEGE_ESCALATION"} <= failed


def test_an_action_whose_resource_does_not_match_is_reported() -> None:
    failed = [c for c in scan(graph(role_policy("s3:GetObject", resource_arn=SECRET))) if not c.passed]
    assert [c.check_id for c in failed] == ["RESOURCE_MISMATCH"]
    assert failed[0].urn and failed[0].rule_id == "parliament:RESOURCE_MISMATCH"


def test_trust_and_inline_policies_of_a_role_are_each_a_document() -> None:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]}
    inline = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    inputs = {
        "assumeRolePolicy": json.dumps(trust),
        "inlinePolicies": [{"name": "x", "policy": json.dumps(inline)}],
    }
    labels = [
        label
        for path in ("assumeRolePolicy", "inlinePolicies[].policy")
        for label, _ in documents(inputs, path)
    ]
    assert labels == ["assumeRolePolicy", "inlinePolicies[0].policy"]
    subjects = {c.subject for c in scan(graph(resource("aws:iam/role:Role", "app", inputs)))}
    assert subjects == {"app assumeRolePolicy", "app inlinePolicies[0].policy"}
