"""KMS keys and EBS default encryption: every data class is encrypted with a rotated customer key."""

from __future__ import annotations

from collections.abc import Iterator

from infra.policy.model import (
    Context,
    Resource,
    Severity,
    Violation,
    as_list,
    is_object,
    policy_document,
    prop,
    resource_rule,
    stack_rule,
    statements,
)

KMS_KEY = "aws:kms/key:Key"
EBS_DEFAULT = "aws:ebs/encryptionByDefault:EncryptionByDefault"
EBS_DEFAULT_KEY = "aws:ebs/defaultKmsKey:DefaultKmsKey"


@resource_rule(
    "WO-KMS-001",
    "KMS customer-managed keys rotate automatically",
    severity=Severity.mandatory,
    controls=("FSBP KMS.4", "CIS 3.6", "PCI 3.7.4"),
    remediation="Set enable_key_rotation=True on the aws.kms.Key (symmetric keys rotate yearly or faster).",
    types=(KMS_KEY,),
)
def kms_rotation(resource: Resource, ctx: Context) -> str | None:
    if (
        prop(resource, "customerMasterKeySpec", prop(resource, "keySpec", "SYMMETRIC_DEFAULT"))
        != "SYMMETRIC_DEFAULT"
    ):
        return None
    if prop(resource, "enableKeyRotation") is not True:
        return "enableKeyRotation is not true"
    return None


def _wildcard_principal(principal: object) -> bool:
    if principal == "*":
        return True
    if is_object(principal):
        return any("*" in as_list(value) for value in principal.values())
    return False


def wildcard_principal_statements(policy: object) -> Iterator[str]:
    """Sids (or positions) of Allow statements granting to ``*`` without any condition."""
    for index, statement in enumerate(statements(policy_document(policy))):
        if statement.get("Effect") != "Allow" or statement.get("Condition"):
            continue
        if _wildcard_principal(statement.get("Principal")) or "NotPrincipal" in statement:
            yield str(statement.get("Sid", f"#{index}"))


@resource_rule(
    "WO-KMS-002",
    "KMS key policies grant no unconditioned wildcard principal",
    severity=Severity.mandatory,
    controls=("FSBP KMS.5", "PCI 3.6.1.2", "PCI 7.2.1"),
    remediation="Name the principals (account root, roles, services) in the key policy, or constrain '*' "
    "with a Condition such as aws:PrincipalAccount or kms:CallerAccount.",
    types=(KMS_KEY,),
)
def kms_wildcard_principal(resource: Resource, ctx: Context) -> str | None:
    policy = prop(resource, "policy")
    if policy is None:
        return "no key policy: the default policy is used instead of a least-privilege one"
    if policy_document(policy) is None:
        return "key policy is not valid JSON"
    offending = list(wildcard_principal_statements(policy))
    return f"statements {', '.join(offending)} allow Principal '*' without a condition" if offending else None


@resource_rule(
    "WO-KMS-003",
    "KMS keys in prod wait 30 days before deletion",
    severity=Severity.advisory,
    controls=("FSBP KMS.3", "PCI 3.6.1"),
    remediation="Set deletion_window_in_days=30 on prod keys so an accidental deletion can be cancelled.",
    types=(KMS_KEY,),
)
def kms_deletion_window(resource: Resource, ctx: Context) -> str | None:
    if not ctx.is_production:
        return None
    window = prop(resource, "deletionWindowInDays", 30)
    return f"deletionWindowInDays is {window} (< 30)" if int(window) < 30 else None


@stack_rule(
    "WO-EBS-001",
    "EBS encryption by default is enabled",
    severity=Severity.mandatory,
    controls=("FSBP EC2.7", "CIS 2.2.1", "PCI 3.5.1"),
    remediation="Declare aws.ebs.EncryptionByDefault(enabled=True) in the environment.",
)
def ebs_default_encryption(ctx: Context) -> Iterator[Violation]:
    settings = ctx.of_type(EBS_DEFAULT)
    if not settings:
        yield Violation("no aws:ebs/encryptionByDefault resource: new volumes may be unencrypted")
    for setting in settings:
        if prop(setting, "enabled", True) is not True:
            yield Violation("EBS encryption by default is disabled", setting["urn"])


@stack_rule(
    "WO-EBS-002",
    "EBS default encryption uses a customer-managed KMS key of this stack",
    severity=Severity.mandatory,
    controls=("FSBP EC2.7", "PCI 3.5.1", "PCI 3.6.1"),
    remediation="Declare aws.ebs.DefaultKmsKey(key_arn=<the EBS CMK>.arn) so volumes use the rotated "
    "EBS key, not aws/ebs.",
)
def ebs_default_cmk(ctx: Context) -> Iterator[Violation]:
    defaults = ctx.of_type(EBS_DEFAULT_KEY)
    if not defaults:
        yield Violation("no aws:ebs/defaultKmsKey resource: volumes fall back to the AWS-managed aws/ebs key")
    for default in defaults:
        arn = str(prop(default, "keyArn", ""))
        if not ctx.referenced_by(default, KMS_KEY) or "alias/aws/" in arn:
            yield Violation(
                f"keyArn {arn or '(unset)'} is not a customer-managed key of this stack", default["urn"]
            )
