"""The account baseline: a validated, encrypted multi-region trail, GuardDuty over EKS and RDS, AWS
Config recording with rules, Security Hub standards, Access Analyzer, a locked and logged archive.

Applicable where the stack owns the account (it creates a trail); a stack sharing an account whose
baseline another stack owns has no trail and these rules do not apply to it.
"""

from __future__ import annotations

from collections.abc import Iterator

from infra.policy.model import (
    Context,
    NotApplicable,
    Resource,
    Severity,
    Violation,
    as_list,
    is_object,
    prop,
    resource_rule,
    stack_rule,
)

TRAIL = "aws:cloudtrail/trail:Trail"
DETECTOR_FEATURE = "aws:guardduty/detectorFeature:DetectorFeature"
RECORDER = "aws:cfg/recorder:Recorder"
RECORDER_STATUS = "aws:cfg/recorderStatus:RecorderStatus"
CONFIG_RULE = "aws:cfg/rule:Rule"
STANDARD = "aws:securityhub/standardsSubscription:StandardsSubscription"
ANALYZER = "aws:accessanalyzer/analyzer:Analyzer"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
BUCKET_LOGGING = "aws:s3/bucketLogging:BucketLogging"
REQUIRED_STANDARDS = (
    "aws-foundational-security-best-practices/v/1.0.0",
    "cis-aws-foundations-benchmark/v/3.0.0",
    "pci-dss/v/4.0.1",
)
GUARDDUTY_REQUIRED = ("EKS_AUDIT_LOGS", "RDS_LOGIN_EVENTS", "RUNTIME_MONITORING")


def _owns_account(ctx: Context) -> None:
    if not ctx.of_type(TRAIL):
        raise NotApplicable("this stack does not own the account baseline (no trail)")


@resource_rule(
    "WO-BASE-001",
    "CloudTrail is multi-region, validates log files, is KMS-encrypted and goes to CloudWatch",
    severity=Severity.mandatory,
    controls=(
        "FSBP CloudTrail.1",
        "FSBP CloudTrail.2",
        "FSBP CloudTrail.4",
        "FSBP CloudTrail.5",
        "CIS 3.1",
        "CIS 3.2",
        "CIS 3.5",
        "PCI 10.2.1",
        "PCI 10.3.2",
        "PCI 10.5.1",
    ),
    remediation="Set is_multi_region_trail, include_global_service_events, enable_log_file_validation, "
    "kms_key_id (the trail key) and cloud_watch_logs_group_arn/role_arn.",
    types=(TRAIL,),
)
def trail_settings(resource: Resource, ctx: Context) -> str | None:
    problems = [
        label
        for label, ok in (
            ("not multi-region", prop(resource, "isMultiRegionTrail") is True),
            ("no global service events", prop(resource, "includeGlobalServiceEvents", True) is not False),
            ("no log file validation", prop(resource, "enableLogFileValidation") is True),
            ("not KMS-encrypted", bool(prop(resource, "kmsKeyId"))),
            ("no CloudWatch Logs delivery", bool(prop(resource, "cloudWatchLogsGroupArn"))),
        )
        if not ok
    ]
    return "; ".join(problems) or None


@stack_rule(
    "WO-BASE-002",
    "GuardDuty watches EKS (audit logs, runtime) and RDS logins",
    severity=Severity.mandatory,
    controls=("FSBP GuardDuty.1", "FSBP GuardDuty.5", "FSBP GuardDuty.7", "FSBP GuardDuty.9", "PCI 11.5.1"),
    remediation="Enable a GuardDuty detector with the EKS_AUDIT_LOGS, RUNTIME_MONITORING (with "
    "EKS_ADDON_MANAGEMENT) and RDS_LOGIN_EVENTS features.",
)
def guardduty(ctx: Context) -> Iterator[Violation]:
    _owns_account(ctx)
    enabled = {str(prop(f, "name")) for f in ctx.of_type(DETECTOR_FEATURE) if prop(f, "status") == "ENABLED"}
    missing = [feature for feature in GUARDDUTY_REQUIRED if feature not in enabled]
    if missing:
        yield Violation(f"GuardDuty features not enabled: {', '.join(missing)}")


@stack_rule(
    "WO-BASE-003",
    "AWS Config records every resource and evaluates rules",
    severity=Severity.mandatory,
    controls=("FSBP Config.1", "CIS 3.3", "PCI 10.2.1", "PCI 11.5.2"),
    remediation="Create a recorder (all supported + global resources), a delivery channel, an enabled "
    "recorder status and the managed rules (infra.baseline.CONFIG_RULES).",
)
def config_recording(ctx: Context) -> Iterator[Violation]:
    _owns_account(ctx)
    recorders = ctx.of_type(RECORDER)
    if not recorders:
        yield Violation("no AWS Config recorder")
        return
    for recorder in recorders:
        if prop(recorder, "recordingGroup.allSupported") is not True:
            yield Violation("the recorder does not record every supported resource", recorder["urn"])
    if not any(prop(s, "isEnabled") is True for s in ctx.of_type(RECORDER_STATUS)):
        yield Violation("the recorder is never started (no enabled recorder status)")
    if not ctx.of_type(CONFIG_RULE):
        yield Violation("no Config rule evaluates the recorded resources")


@stack_rule(
    "WO-BASE-004",
    "Security Hub runs FSBP, CIS AWS 3.0 and PCI DSS 4.0.1; Access Analyzer watches the account",
    severity=Severity.mandatory,
    controls=("FSBP SecurityHub.1", "FSBP IAM.28", "CIS 1.20", "PCI 12.4.1"),
    remediation="Subscribe the three standards (account.security_hub_standards) and create an ACCOUNT "
    "Access Analyzer.",
)
def security_hub(ctx: Context) -> Iterator[Violation]:
    _owns_account(ctx)
    subscribed = " ".join(str(prop(s, "standardsArn")) for s in ctx.of_type(STANDARD))
    missing = [standard for standard in REQUIRED_STANDARDS if standard not in subscribed]
    if missing:
        yield Violation(f"Security Hub standards missing: {', '.join(missing)}")
    if not ctx.of_type(ANALYZER):
        yield Violation("no IAM Access Analyzer")


@stack_rule(
    "WO-BASE-005",
    "The audit archive is locked by a default retention and logs its access",
    severity=Severity.mandatory,
    controls=("FSBP S3.9", "FSBP S3.15", "PCI 10.5.1", "PCI 10.3.3"),
    remediation="Give the archive bucket object_lock_enabled, a BucketObjectLockConfiguration default "
    "retention (account.archive_lock_mode/days) and BucketLogging to the access-log bucket.",
)
def archive_locked_and_logged(ctx: Context) -> Iterator[Violation]:
    _owns_account(ctx)
    locks = [
        lock
        for lock in ctx.of_type(OBJECT_LOCK)
        if is_object(prop(lock, "rule.defaultRetention")) and prop(lock, "rule.defaultRetention.days")
    ]
    if not locks:
        yield Violation("no Object Lock default retention on the audit archive")
    if not ctx.of_type(BUCKET_LOGGING):
        yield Violation("no server access logging on the audit archive")
    for lock in locks:
        if not as_list(lock.get("dependencies")):
            yield Violation("the Object Lock configuration names no bucket of this stack", lock["urn"])
