"""CloudWatch logs: financial and audit logs are kept a year or more, encrypted, and nothing is kept forever
by accident."""

from __future__ import annotations

from infra.policy.model import Context, NotApplicable, Resource, Severity, prop, resource_rule, tags_of

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LONG_LIVED_CLASSES = ("audit", "financial")
MIN_AUDIT_DAYS = 365


def is_audit_log(group: Resource) -> bool:
    """Financial/audit log groups: tag ``log-class`` audit|financial or ``data-classification`` financial."""
    tags = tags_of(group)
    return tags.get("log-class") in LONG_LIVED_CLASSES or tags.get("data-classification") == "financial"


@resource_rule(
    "WO-LOG-001",
    "Financial and audit log groups are kept at least 365 days",
    severity=Severity.mandatory,
    controls=("FSBP CloudWatch.16", "PCI 10.5.1"),
    remediation="Set retention_in_days >= 365 (logging.audit_retention_days) on log groups tagged "
    "log-class: audit or financial.",
    types=(LOG_GROUP,),
)
def audit_retention(resource: Resource, ctx: Context) -> str | None:
    if not is_audit_log(resource):
        raise NotApplicable("not a financial or audit log group")
    days = int(prop(resource, "retentionInDays", 0))
    if days and days < MIN_AUDIT_DAYS:
        return f"retentionInDays is {days} (< {MIN_AUDIT_DAYS})"
    return None


@resource_rule(
    "WO-LOG-002",
    "Financial and audit log groups are encrypted with a customer KMS key",
    severity=Severity.mandatory,
    controls=("PCI 10.3.2", "PCI 3.5.1"),
    remediation="Set kms_key_id to the logs CMK (its key policy must allow logs.<region>.amazonaws.com).",
    types=(LOG_GROUP,),
)
def audit_encrypted(resource: Resource, ctx: Context) -> str | None:
    if not is_audit_log(resource):
        raise NotApplicable("not a financial or audit log group")
    return None if prop(resource, "kmsKeyId") else "kmsKeyId unset"


@resource_rule(
    "WO-LOG-003",
    "Every log group has a finite retention and a log class",
    severity=Severity.advisory,
    controls=("PCI 3.2.1", "PCI 10.5.1"),
    remediation="Set retention_in_days (app logs: logging.app_retention_days) and tag log-class.",
    types=(LOG_GROUP,),
)
def retention_set(resource: Resource, ctx: Context) -> str | None:
    problems = []
    if not prop(resource, "retentionInDays"):
        problems.append("never expires (retentionInDays unset)")
    if "log-class" not in tags_of(resource):
        problems.append("no log-class tag")
    return "; ".join(problems) or None
