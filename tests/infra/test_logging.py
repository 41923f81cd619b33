"""Audit logging: the archive bucket's name is unique to this account and region; access logs keep a year."""

from __future__ import annotations

import json
from typing import Any

import pytest
from plan_helpers import of_type, one

from infra.logging import bucket_name
from infra.planner import ACCOUNT_ID


def test_every_bucket_name_carries_the_account_and_the_region(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        regions = {
            r["name"]: r["inputs"].get("region", plan["region"])
            for r in plan["resources"]
            if r["type"] == "pulumi:providers:aws"
        }
        buckets = of_type(plan, "aws:s3/bucket:Bucket")
        assert buckets
        for bucket in buckets:
            name, region = bucket["inputs"]["bucket"], regions[bucket["provider"]]
            assert name.endswith(f"-{ACCOUNT_ID}-{region}"), f"{name} is not unique across accounts"


def test_bucket_names_stay_within_the_s3_limit() -> None:
    assert bucket_name("wallet-stage", "audit-archive", ACCOUNT_ID, "ap-southeast-3") == (
        f"wallet-stage-audit-archive-{ACCOUNT_ID}-ap-southeast-3"
    )
    with pytest.raises(ValueError, match="longer than 63"):
        bucket_name("wallet-stage", "a-much-longer-purpose-name", ACCOUNT_ID, "ap-southeast-3")


def test_the_archive_is_locked_and_logs_its_access(plans: dict[str, Any]) -> None:
    for env, (mode, days) in {"prod": ("COMPLIANCE", 2557), "dev": ("GOVERNANCE", 30)}.items():
        plan = plans[env]
        lock = _named(
            plan, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "-audit-archive-lock"
        )
        assert lock["inputs"]["rule"]["defaultRetention"] == {"mode": mode, "days": days}
        archive = _named(plan, "aws:s3/bucket:Bucket", "-audit-archive")
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
    snapshots = statements["ServerAccessLogsOfEsSnapshots"]
    assert snapshots["Resource"] == f"{logs}/es-snapshots/*"
    assert snapshots["Condition"]["ArnLike"]["aws:SourceArn"] == (
        f"arn:aws:s3:::wallet-prod-es-snapshots-{ACCOUNT_ID}-eu-west-1"
    )
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


def _named(plan: dict[str, Any], type_token: str, suffix: str) -> dict[str, Any]:
    return next(r for r in of_type(plan, type_token) if r["name"].endswith(suffix))


@pytest.mark.parametrize("env", ["stage", "prod"])
def test_audit_buckets_are_replicated_to_another_region(plans: dict[str, Any], env: str) -> None:
    plan = plans[env]
    provider = next(
        r for r in plan["resources"] if r["type"] == "pulumi:providers:aws" and "replica" in r["name"]
    )
    assert provider["inputs"]["region"] == "eu-central-1"
    key = _named(plan, "aws:kms/key:Key", "-kms-replica")
    assert key["provider"] == provider["name"] and key["inputs"]["enableKeyRotation"] is True
    for label, purpose in (
        ("access-logs", "s3-access-logs"),
        ("audit-archive", "audit-archive"),
        ("trail-bucket", "cloudtrail"),
    ):
        source = _named(plan, "aws:s3/bucket:Bucket", f"-{label}")
        twin = _named(plan, "aws:s3/bucket:Bucket", f"-{label}-replica")
        assert twin["provider"] == provider["name"]
        assert twin["inputs"]["bucket"] == f"wallet-{env}-{purpose}-replica-{ACCOUNT_ID}-eu-central-1"
        rule = _named(plan, "aws:s3/bucketReplicationConfig:BucketReplicationConfig", f"-{label}-replication")
        assert rule["inputs"]["bucket"] == source["id"]
        [entry] = rule["inputs"]["rules"]
        assert entry["status"] == "Enabled" and entry["deleteMarkerReplication"] == {"status": "Enabled"}
        assert entry["destination"]["bucket"] == twin["outputs"]["arn"]
        assert entry["destination"]["encryptionConfiguration"]["replicaKmsKeyId"] == key["outputs"]["arn"]
        versioning = _named(plan, "aws:s3/bucketVersioning:BucketVersioning", f"-{label}-versioning")
        assert versioning["urn"] in rule["dependencies"], "versioning must be on before the rule"
        role = _named(plan, "aws:iam/role:Role", f"-{label}-replication")
        assert rule["inputs"]["role"] == role["outputs"]["arn"] and role["inputs"]["permissionsBoundary"]
        statements = {
            s["Sid"]: s
            for s in json.loads(
                _named(plan, "aws:iam/rolePolicy:RolePolicy", f"-{label}-replication-permissions")["inputs"][
                    "policy"
                ]
            )["Statement"]
        }
        assert statements["WriteTheTwinOnly"]["Resource"] == f"{twin['outputs']['arn']}/*"
        assert statements["EncryptThroughS3OfTheReplicaRegion"]["Condition"] == {
            "StringEquals": {"kms:ViaService": "s3.eu-central-1.amazonaws.com"}
        }
    lock = _named(
        plan,
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
        "-audit-archive-replica-lock",
    )
    source_lock = _named(
        plan, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "-audit-archive-lock"
    )
    assert lock["inputs"]["rule"] == source_lock["inputs"]["rule"]


def test_single_region_environments_replicate_nothing(plans: dict[str, Any]) -> None:
    for env in ("dev", "qa"):
        assert not of_type(plans[env], "aws:s3/bucketReplicationConfig:BucketReplicationConfig")
