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


def test_the_archive_is_locked_and_logs_its_access(plans: dict[str, Any]) -> None:
    for env, (mode, days) in {"prod": ("COMPLIANCE", 2557), "dev": ("GOVERNANCE", 30)}.items():
        plan = plans[env]
        [lock] = of_type(plan, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
        assert lock["inputs"]["rule"]["defaultRetention"] == {"mode": mode, "days": days}
        archive = next(
            b for b in of_type(plan, "aws:s3/bucket:Bucket") if "audit-archive" in b["inputs"]["bucket"]
        )
        assert archive["inputs"]["objectLockEnabled"] is True
        [logging] = of_type(plan, "aws:s3/bucketLogging:BucketLogging")
        assert archive["urn"] in logging["dependencies"]
        assert logging["inputs"]["targetPrefix"] == "archive/"
