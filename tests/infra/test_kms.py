"""KMS: a rotating customer-managed key per data class, no wildcard principals, EBS encrypted by default."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from plan_helpers import key_arn_of, of_type, one

from contracts.config import load_environment
from infra.kms import DATA_CLASSES
from infra.planner import ACCOUNT_ID, plan_environments

ROOT = Path(__file__).resolve().parents[2]


def test_every_key_rotates_and_has_an_alias(plans: dict[str, Any]) -> None:
    for env, plan in plans.items():
        config = load_environment(env, ROOT)
        classes = [c for c in DATA_CLASSES if c != "firewall" or config.transit.egress_firewall]
        classes += ["replica"] if config.logging.replica_region else []
        keys = of_type(plan, "aws:kms/key:Key")
        assert sorted(key["name"] for key in keys) == sorted(f"wallet-{env}-kms-{c}" for c in classes)
        assert all(key["inputs"]["enableKeyRotation"] is True for key in keys)
        aliases = {alias["inputs"]["name"] for alias in of_type(plan, "aws:kms/alias:Alias")}
        assert len(aliases) == len(classes)


def test_key_policies_name_principals_never_a_wildcard(plans: dict[str, Any]) -> None:
    for key in of_type(plans["prod"], "aws:kms/key:Key"):
        for statement in json.loads(key["inputs"]["policy"])["Statement"]:
            principal = statement["Principal"]
            assert principal != "*" and principal.get("AWS") != "*", key["name"]


def test_ebs_is_encrypted_by_default_with_the_ebs_key(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        assert one(plan, "aws:ebs/encryptionByDefault:EncryptionByDefault")["inputs"]["enabled"] is True
        assert one(plan, "aws:ebs/defaultKmsKey:DefaultKmsKey")["inputs"]["keyArn"] == key_arn_of(plan, "ebs")


def test_keys_are_protected_in_prod_only(plans: dict[str, Any]) -> None:
    assert all(key["protect"] for key in of_type(plans["prod"], "aws:kms/key:Key"))
    assert not any(key["protect"] for key in of_type(plans["dev"], "aws:kms/key:Key"))


def test_ebs_key_waits_for_the_auto_scaling_service_role_it_names(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        [role] = [
            r
            for r in of_type(plan, "aws:iam/serviceLinkedRole:ServiceLinkedRole")
            if r["inputs"]["awsServiceName"] == "autoscaling.amazonaws.com"
        ]
        key = next(k for k in of_type(plan, "aws:kms/key:Key") if k["name"].endswith("-kms-ebs"))
        assert role["urn"] in key["dependencies"], "a key policy naming a missing role is rejected"
        principals = [
            s["Principal"]["AWS"]
            for s in json.loads(key["inputs"]["policy"])["Statement"]
            if s["Sid"] == "AutoScalingLaunchesEncryptedNodes"
        ]
        assert principals == [
            f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
        ]


def test_an_account_that_has_the_service_role_does_not_create_it(project_copy: Callable[[], Path]) -> None:
    project = project_copy()
    path = project / "Pulumi.dev.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["walletops:account"]["create_autoscaling_service_linked_role"] = False
    path.write_text(yaml.safe_dump(document))
    plan = plan_environments([load_environment("dev", project)], project)["dev"].to_document()
    assert not [
        r
        for r in of_type(plan, "aws:iam/serviceLinkedRole:ServiceLinkedRole")
        if r["inputs"]["awsServiceName"] == "autoscaling.amazonaws.com"
    ]
    key = next(k for k in of_type(plan, "aws:kms/key:Key") if k["name"].endswith("-kms-ebs"))
    assert "AWSServiceRoleForAutoScaling" in key["inputs"]["policy"]


def test_the_s3_key_lets_this_accounts_log_deliveries_encrypt(plans: dict[str, Any]) -> None:
    key = next(k for k in of_type(plans["prod"], "aws:kms/key:Key") if k["name"].endswith("-kms-s3"))
    statements = {s["Sid"]: s for s in json.loads(key["inputs"]["policy"])["Statement"]}
    delivery = statements["LoadBalancerLogDeliveryOfThisAccount"]
    assert delivery["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert delivery["Action"] == ["kms:GenerateDataKey*", "kms:Decrypt"]
    assert delivery["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
