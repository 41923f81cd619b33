"""Data: the ledger database and the cache are encrypted with their keys, private and resilient in prod."""

from __future__ import annotations

import json
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


def test_redis_encrypts_at_rest_and_in_transit(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        cache = one(plan, "aws:elasticache/replicationGroup:ReplicationGroup")["inputs"]
        assert cache["atRestEncryptionEnabled"] is True
        assert cache["kmsKeyId"] == key_arn_of(plan, "cache")
        assert cache["transitEncryptionEnabled"] is True and cache["transitEncryptionMode"] == "required"


def test_redis_authenticates_each_service_as_its_own_user_and_no_shared_token(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    cache = one(plan, "aws:elasticache/replicationGroup:ReplicationGroup")["inputs"]
    assert "authToken" not in cache and "authTokenUpdateStrategy" not in cache
    group = one(plan, "aws:elasticache/userGroup:UserGroup")["inputs"]
    assert cache["userGroupIds"] == [group["userGroupId"]]
    users = {u["inputs"]["userName"]: u["inputs"] for u in of_type(plan, "aws:elasticache/user:User")}
    assert sorted(group["userIds"]) == sorted(u["userId"] for u in users.values())
    assert users["default"]["accessString"].startswith("off")
    cache_users = {"wallet", "exchange-coinbase", "exchange-alpaca", "exchange-kraken"}
    assert set(users) == {"default", *(f"wallet-prod-cache-{name}" for name in cache_users)}
    for name in cache_users:
        user = users[f"wallet-prod-cache-{name}"]
        assert user["accessString"] == f"on ~{name}:* +@all -@dangerous"
        assert user["userId"] == user["userName"], "IAM authentication needs id == name"
        assert user["authenticationMode"] == {"type": "iam"}, "no password to store or rotate"
    names = {s["inputs"]["name"] for s in of_type(plan, "aws:secretsmanager/secret:Secret")}
    assert not any(name.endswith("/cache") for name in names)
    passwords = of_type(plan, "random:index/randomPassword:RandomPassword")
    assert not [p["name"] for p in passwords if "walletops:data:Data" in p["urn"]], (
        "the cache has no password"
    )


def test_database_minor_version_floats_with_auto_upgrade(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        db = one(plan, "aws:rds/instance:Instance")["inputs"]
        assert db["autoMinorVersionUpgrade"] is True
        assert "." not in db["engineVersion"], "a pinned minor fights the automatic minor upgrades"


def test_database_user_and_windows_come_from_config(plans: dict[str, Any]) -> None:
    db = one(plans["prod"], "aws:rds/instance:Instance")["inputs"]
    assert (db["username"], db["backupWindow"], db["maintenanceWindow"]) == (
        "ledger_admin",
        "02:00-03:00",
        "sun:03:30-sun:04:30",
    )


def test_cache_fails_over_where_it_has_replicas(plans: dict[str, Any]) -> None:
    prod = one(plans["prod"], "aws:elasticache/replicationGroup:ReplicationGroup")["inputs"]
    assert (
        prod["numCacheClusters"] == 3 and prod["automaticFailoverEnabled"] is True and prod["multiAzEnabled"]
    )
    dev = one(plans["dev"], "aws:elasticache/replicationGroup:ReplicationGroup")["inputs"]
    assert dev["numCacheClusters"] == 1 and dev["automaticFailoverEnabled"] is False


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_database_has_enhanced_monitoring_with_its_own_bounded_role(plans: dict[str, Any], env: str) -> None:
    plan = plans[env]
    db = one(plan, "aws:rds/instance:Instance")
    assert db["inputs"]["monitoringInterval"] == 60
    [role] = [r for r in of_type(plan, "aws:iam/role:Role") if r["name"].endswith("-db-monitoring")]
    assert db["inputs"]["monitoringRoleArn"] == role["outputs"]["arn"]
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": ["monitoring.rds.amazonaws.com"]}
    assert role["inputs"]["permissionsBoundary"]
    [attachment] = [
        a
        for a in of_type(plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a["name"].endswith("-db-monitoring-policy")
    ]
    assert attachment["inputs"]["policyArn"].endswith("service-role/AmazonRDSEnhancedMonitoringRole")
