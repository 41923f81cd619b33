"""Audit logging: the archive bucket's name is unique to this account and region; access logs keep a year."""

from __future__ import annotations

from typing import Any

import json

import pytest
from plan_helpers import of_type, one

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
        [logging] = [
            r
            for r in of_type(plan, "aws:s3/bucketLogging:BucketLogging")
            if archive["urn"] in r["dependencies"]
        ]
        assert logging["inputs"]["targetPrefix"] == "archive/"


def test_every_bucket_sends_its_object_events_to_eventbridge(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        notifications = of_type(plan, "aws:s3/bucketNotification:BucketNotification")
        for bucket in of_type(plan, "aws:s3/bucket:Bucket"):
            [events] = [n for n in notifications if bucket["urn"] in n["dependencies"]]
            assert events["inputs"]["eventbridge"] is True


def _access_log_statements(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    policy = next(
        p
        for p in of_type(plan, "aws:s3/bucketPolicy:BucketPolicy")
        if p["name"].endswith("-access-logs-policy")
    )
    return {s["Sid"]: s for s in json.loads(policy["inputs"]["policy"])["Statement"]}


def test_the_access_log_bucket_takes_each_writer_under_its_own_prefix(plans: dict[str, Any]) -> None:
    statements = _access_log_statements(plans["prod"])
    logs = f"arn:aws:s3:::wallet-prod-s3-access-logs-{ACCOUNT_ID}-eu-west-1"
    trail = statements["ServerAccessLogsOfCloudtrail"]
    assert trail["Resource"] == f"{logs}/cloudtrail/*"
    assert trail["Condition"]["ArnLike"]["aws:SourceArn"] == (
        f"arn:aws:s3:::wallet-prod-cloudtrail-{ACCOUNT_ID}-eu-west-1"
    )
    assert statements["ServerAccessLogsOfArchive"]["Resource"] == f"{logs}/archive/*"
    write = statements["LoadBalancerLogDeliveryWrite"]
    assert write["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert write["Resource"] == f"{logs}/load-balancers/AWSLogs/{ACCOUNT_ID}/*"
    assert write["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT_ID
    assert statements["LoadBalancerLogDeliveryAclCheck"]["Action"] == "s3:GetBucketAcl"
    nlb = one(plans["prod"], "aws:lb/loadBalancer:LoadBalancer")
    assert nlb["inputs"]["accessLogs"] == {
        "bucket": next(
            b["id"]
            for b in of_type(plans["prod"], "aws:s3/bucket:Bucket")
            if "-s3-access-logs-" in b["inputs"]["bucket"]
        ),
        "prefix": "load-balancers",
        "enabled": True,
    }
    policy = next(
        p
        for p in of_type(plans["prod"], "aws:s3/bucketPolicy:BucketPolicy")
        if p["name"].endswith("-access-logs-policy")
    )
    assert policy["urn"] in nlb["dependencies"]
