"""Audit logging: the archive bucket's name is unique to this account and region; access logs keep a year."""

from __future__ import annotations

from typing import Any

import pytest
from plan_helpers import of_type

from infra.logging import bucket_name
from infra.planner import ACCOUNT_ID


def test_every_bucket_name_carries_the_account_and_the_region(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        buckets = of_type(plan, "aws:s3/bucket:Bucket")
        assert buckets
        for bucket in buckets:
            name = bucket["inputs"]["bucket"]
            assert name.endswith(f"-{ACCOUNT_ID}-{plan['region']}"), f"{name} is not unique across accounts"


def test_bucket_names_stay_within_the_s3_limit() -> None:
    assert bucket_name("wallet-stage", "audit-archive", ACCOUNT_ID, "ap-southeast-3") == (
        f"wallet-stage-audit-archive-{ACCOUNT_ID}-ap-southeast-3"
    )
    with pytest.raises(ValueError, match="longer than 63"):
        bucket_name("wallet-stage", "a-much-longer-purpose-name", ACCOUNT_ID, "ap-southeast-3")


def test_access_logs_keep_their_own_retention_not_the_audit_span(plans: dict[str, Any]) -> None:
    groups = {
        g["inputs"]["name"]: g["inputs"] for g in of_type(plans["prod"], "aws:cloudwatch/logGroup:LogGroup")
    }
    assert groups["/walletops/prod/api-gateway/access"]["retentionInDays"] == 400
    assert groups["aws-waf-logs-wallet-prod"]["retentionInDays"] == 400
    assert groups["/walletops/prod/audit"]["retentionInDays"] == 2557
