"""Data: the ledger database and the cache are encrypted with their keys, private and resilient in prod."""

from __future__ import annotations

from typing import Any

import pytest
from plan_helpers import key_arn_of, of_type, one


@pytest.mark.parametrize(
    ("env", "multi_az"), [("dev", False), ("qa", False), ("stage", True), ("prod", True)]
)
def test_rds_is_encrypted_with_the_database_key_and_private(
    plans: dict[str, Any], env: str, multi_az: bool
) -> None:
    plan = plans[env]
    db = one(plan, "aws:rds/instance:Instance")
    inputs = db["inputs"]
    assert inputs["storageEncrypted"] is True
    assert inputs["kmsKeyId"] == key_arn_of(plan, "database")
    assert inputs["publiclyAccessible"] is False
    assert inputs["multiAz"] is multi_az
    assert inputs["iamDatabaseAuthenticationEnabled"] is True
    assert inputs["manageMasterUserPassword"] is True and "password" not in inputs
    assert inputs["backupRetentionPeriod"] >= 7
    assert inputs["autoMinorVersionUpgrade"] is True


def test_prod_database_is_protected_against_deletion(plans: dict[str, Any]) -> None:
    db = one(plans["prod"], "aws:rds/instance:Instance")
    assert db["inputs"]["deletionProtection"] is True and db["protect"] is True
    assert one(plans["dev"], "aws:rds/instance:Instance")["protect"] is False


def test_database_forces_tls(plans: dict[str, Any]) -> None:
    params = one(plans["stage"], "aws:rds/parameterGroup:ParameterGroup")["inputs"]["parameters"]
    assert {(p["name"], p["value"]) for p in params} >= {
        ("rds.force_ssl", "1"),
        ("password_encryption", "scram-sha-256"),
    }


def test_database_lives_in_the_isolated_data_subnets(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    group = one(plan, "aws:rds/subnetGroup:SubnetGroup")
    data_subnets = {
        s["urn"] for s in of_type(plan, "aws:ec2/subnet:Subnet") if s["inputs"]["tags"]["tier"] == "data"
    }
    assert {d for d in group["dependencies"] if ":ec2/subnet:" in d} == data_subnets


def test_redis_encrypts_at_rest_and_in_transit_with_auth(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        cache = one(plan, "aws:elasticache/replicationGroup:ReplicationGroup")["inputs"]
        assert cache["atRestEncryptionEnabled"] is True
        assert cache["kmsKeyId"] == key_arn_of(plan, "cache")
        assert cache["transitEncryptionEnabled"] is True
        assert cache["authToken"]
    secret = next(
        s
        for s in of_type(plans["prod"], "aws:secretsmanager/secret:Secret")
        if "cache/auth-token" in s["inputs"]["name"]
    )
    assert secret["inputs"]["kmsKeyId"] == key_arn_of(plans["prod"], "secrets")


def test_cache_fails_over_where_it_has_replicas(plans: dict[str, Any]) -> None:
    prod = one(plans["prod"], "aws:elasticache/replicationGroup:ReplicationGroup")["inputs"]
    assert (
        prod["numCacheClusters"] == 3 and prod["automaticFailoverEnabled"] is True and prod["multiAzEnabled"]
    )
    dev = one(plans["dev"], "aws:elasticache/replicationGroup:ReplicationGroup")["inputs"]
    assert dev["numCacheClusters"] == 1 and dev["automaticFailoverEnabled"] is False
