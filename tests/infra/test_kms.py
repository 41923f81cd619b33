"""KMS: a rotating customer-managed key per data class, no wildcard principals, EBS encrypted by default."""

from __future__ import annotations

import json
from typing import Any

from plan_helpers import key_arn_of, of_type, one

from infra.kms import DATA_CLASSES


def test_every_key_rotates_and_has_an_alias(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        keys = of_type(plan, "aws:kms/key:Key")
        assert len(keys) == len(DATA_CLASSES)
        assert all(key["inputs"]["enableKeyRotation"] is True for key in keys)
        aliases = {alias["inputs"]["name"] for alias in of_type(plan, "aws:kms/alias:Alias")}
        assert len(aliases) == len(DATA_CLASSES)


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
