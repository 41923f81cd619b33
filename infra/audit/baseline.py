"""More posture checks: resource encryption and hardening, and the account baseline AWS's own
standards look at first (CloudTrail, GuardDuty, Config, Security Hub, Access Analyzer, root account,
access keys, password policy). Registered into :data:`infra.audit.checks.CHECKS` on import.

Account-wide checks report one result named ``account/<region>`` (or ``account`` for global IAM
settings, which are the same in every region); resource checks name the resource id.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from infra.audit.checks import Account, Status, check, pages, tag_dict

MIN_LOG_RETENTION = 90  # PCI DSS 10.5.1: three months immediately available
MAX_KEY_AGE_DAYS = 90
MIN_PASSWORD_LENGTH = 14
MIN_PASSWORD_REUSE = 24
STANDARDS = ("aws-foundational-security-best-practices", "cis-aws-foundations-benchmark")


def _customer_key(account: Account, key_id: str | None) -> tuple[bool, str]:
    """Whether ``key_id`` is a customer-managed KMS key, and a short description."""
    if not key_id:
        return False, "no KMS key (AWS-owned key)"
    manager = account.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["KeyManager"]
    return manager == "CUSTOMER", f"{key_id.rsplit('/', 1)[-1]} is {manager}-managed"


@check("AUD-EBS-003", "EBS volumes are encrypted", "FSBP EC2.3", "PCI 3.5.1")
def ebs_volumes(account: Account) -> Iterator[tuple[str, Status, str]]:
    for volume in pages(account.client("ec2"), "describe_volumes", "Volumes"):
        if account.in_scope(tag_dict(volume.get("Tags"))):
            encrypted = bool(volume.get("Encrypted"))
            yield volume["VolumeId"], "pass" if encrypted else "fail", f"Encrypted={encrypted}"


@check("AUD-EBS-004", "EBS snapshots are encrypted", "PCI 3.5.1")
def ebs_snapshots(account: Account) -> Iterator[tuple[str, Status, str]]:
    ec2 = account.client("ec2")
    owner = account.account_id
    for snapshot in pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"]):
        # OwnerIds=self already means this account on AWS; moto also returns its public AMIs' snapshots
        if snapshot.get("OwnerId") == owner and account.in_scope(tag_dict(snapshot.get("Tags"))):
            encrypted = bool(snapshot.get("Encrypted"))
            yield snapshot["SnapshotId"], "pass" if encrypted else "fail", f"Encrypted={encrypted}"


@check("AUD-LOG-002", f"Every log group expires its events after {MIN_LOG_RETENTION}+ days", "PCI 10.5.1")
def every_log_retention(account: Account) -> Iterator[tuple[str, Status, str]]:
    logs = account.client("logs")
    for group in pages(logs, "describe_log_groups", "logGroups"):
        name = group["logGroupName"]
        if account.env is not None and not account.in_scope(
            logs.list_tags_log_group(logGroupName=name).get("tags", {})
        ):
            continue
        days = group.get("retentionInDays")
        status: Status = "pass" if days is not None and days >= MIN_LOG_RETENTION else "fail"
        yield name, status, f"retentionInDays={days if days is not None else 'never expire (no retention)'}"


def _db_instances(account: Account) -> Iterator[dict[str, Any]]:
    for db in pages(account.client("rds"), "describe_db_instances", "DBInstances"):
        if account.in_scope(tag_dict(db.get("TagList"))):
            yield db


@check("AUD-RDS-004", "RDS storage uses a customer-managed KMS key", "PCI 3.6.1")
def rds_cmk(account: Account) -> Iterator[tuple[str, Status, str]]:
    for db in _db_instances(account):
        ok, detail = _customer_key(account, db.get("KmsKeyId") if db.get("StorageEncrypted") else None)
        yield db["DBInstanceIdentifier"], "pass" if ok else "fail", detail


@check("AUD-RDS-005", "RDS instances have deletion protection", "FSBP RDS.8")
def rds_deletion_protection(account: Account) -> Iterator[tuple[str, Status, str]]:
    for db in _db_instances(account):
        on = bool(db.get("DeletionProtection"))
        yield db["DBInstanceIdentifier"], "pass" if on else "fail", f"DeletionProtection={on}"


@check("AUD-ECC-003", "ElastiCache encrypts at rest with a customer-managed KMS key", "PCI 3.6.1")
def cache_cmk(account: Account) -> Iterator[tuple[str, Status, str]]:
    from infra.audit.checks import _replication_groups

    for group in _replication_groups(account):
        key = group.get("KmsKeyId") if group.get("AtRestEncryptionEnabled") else None
        ok, detail = _customer_key(account, key)
        yield group["ReplicationGroupId"], "pass" if ok else "fail", detail


@check("AUD-EC2-001", "EC2 instances require IMDSv2", "FSBP EC2.8")
def imdsv2(account: Account) -> Iterator[tuple[str, Status, str]]:
    for reservation in pages(account.client("ec2"), "describe_instances", "Reservations"):
        for instance in reservation.get("Instances", []):
            if instance.get("State", {}).get("Name") == "terminated":
                continue
            if account.in_scope(tag_dict(instance.get("Tags"))):
                tokens = instance.get("MetadataOptions", {}).get("HttpTokens", "optional")
                yield (
                    instance["InstanceId"],
                    "pass" if tokens == "required" else "fail",
                    f"HttpTokens={tokens}",
                )


@check("AUD-SM-001", "Secrets rotate automatically", "FSBP SecretsManager.1", "PCI 8.6.3")
def secret_rotation(account: Account) -> Iterator[tuple[str, Status, str]]:
    for secret in pages(account.client("secretsmanager"), "list_secrets", "SecretList"):
        if account.in_scope(tag_dict(secret.get("Tags"))):
            on = bool(secret.get("RotationEnabled"))
            yield secret["Name"], "pass" if on else "fail", f"RotationEnabled={on}"


@check(
    "AUD-CT-001",
    "A multi-region CloudTrail trail is logging, with log file validation and a KMS key",
    "FSBP CloudTrail.1",
    "FSBP CloudTrail.2",
    "FSBP CloudTrail.4",
    "CIS 3.1",
    "CIS 3.2",
    "CIS 3.5",
)
def cloudtrail(account: Account) -> Iterator[tuple[str, Status, str]]:
    trails = account.client("cloudtrail").describe_trails(includeShadowTrails=True).get("trailList", [])
    problems_by_trail: dict[str, list[str]] = {}
    for trail in trails:
        problems = []
        if not trail.get("IsMultiRegionTrail"):
            problems.append("single-region")
        if not trail.get("LogFileValidationEnabled"):
            problems.append("no log file validation")
        if not trail.get("KmsKeyId"):
            problems.append("no KMS key")
        status = account.client("cloudtrail").get_trail_status(Name=trail["TrailARN"])
        if not status.get("IsLogging"):
            problems.append("not logging")
        problems_by_trail[trail["Name"]] = problems
    good = [name for name, problems in problems_by_trail.items() if not problems]
    if good:
        yield f"account/{account.region}", "pass", f"trail {good[0]}: multi-region, validated, KMS, logging"
        return
    detail = "; ".join(f"{name}: {', '.join(p)}" for name, p in problems_by_trail.items()) or "no trail"
    yield f"account/{account.region}", "fail", detail


@check("AUD-GD-001", "GuardDuty is enabled", "FSBP GuardDuty.1", "PCI 11.5.1")
def guardduty(account: Account) -> Iterator[tuple[str, Status, str]]:
    client = account.client("guardduty")
    detectors = client.list_detectors().get("DetectorIds", [])
    enabled = [d for d in detectors if client.get_detector(DetectorId=d).get("Status") == "ENABLED"]
    status: Status = "pass" if enabled else "fail"
    yield f"account/{account.region}", status, f"enabled detectors: {', '.join(enabled) or 'none'}"


@check("AUD-CFG-001", "AWS Config records all resources and is running", "FSBP Config.1", "CIS 3.3")
def config_recorder(account: Account) -> Iterator[tuple[str, Status, str]]:
    client = account.client("config")
    recorders = client.describe_configuration_recorders().get("ConfigurationRecorders", [])
    running = {
        s["name"]: bool(s.get("recording"))
        for s in client.describe_configuration_recorder_status().get("ConfigurationRecordersStatus", [])
    }
    for recorder in recorders:
        group = recorder.get("recordingGroup", {})
        if group.get("allSupported") and running.get(recorder["name"]):
            yield (
                f"account/{account.region}",
                "pass",
                f"recorder {recorder['name']}: all resources, recording",
            )
            return
    names = ", ".join(f"{r['name']} (recording={running.get(r['name'], False)})" for r in recorders)
    yield f"account/{account.region}", "fail", f"recorders: {names or 'none'}"


@check("AUD-SH-001", "Security Hub is on with the FSBP and CIS standards", "FSBP SecurityHub.1")
def security_hub(account: Account) -> Iterator[tuple[str, Status, str]]:
    client = account.client("securityhub")
    try:
        client.describe_hub()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("InvalidAccessException", "ResourceNotFoundException"):
            yield f"account/{account.region}", "fail", "Security Hub is not enabled"
            return
        raise
    arns = [s["StandardsArn"] for s in pages(client, "get_enabled_standards", "StandardsSubscriptions")]
    missing = [name for name in STANDARDS if not any(name in arn for arn in arns)]
    status: Status = "fail" if missing else "pass"
    yield (
        f"account/{account.region}",
        status,
        f"missing standards: {', '.join(missing)}" if missing else ("FSBP and CIS standards enabled"),
    )


@check("AUD-AA-001", "IAM Access Analyzer is active in the region", "CIS 1.20")
def access_analyzer(account: Account) -> Iterator[tuple[str, Status, str]]:
    analyzers = list(pages(account.client("accessanalyzer"), "list_analyzers", "analyzers"))
    active = [a["name"] for a in analyzers if a.get("status") == "ACTIVE"]
    status: Status = "pass" if active else "fail"
    yield f"account/{account.region}", status, f"active analyzers: {', '.join(active) or 'none'}"


@check(
    "AUD-IAM-001",
    "The root user has MFA and no access keys",
    "FSBP IAM.4",
    "FSBP IAM.9",
    "CIS 1.4",
    "CIS 1.5",
    regional=False,
)
def root_account(account: Account) -> Iterator[tuple[str, Status, str]]:
    summary = account.client("iam").get_account_summary()["SummaryMap"]
    mfa = bool(summary.get("AccountMFAEnabled"))
    keys = int(summary.get("AccountAccessKeysPresent", 0))
    status: Status = "pass" if mfa and not keys else "fail"
    yield "account/root", status, f"AccountMFAEnabled={int(mfa)}, AccountAccessKeysPresent={keys}"


@check(
    "AUD-IAM-002",
    f"Active access keys are at most {MAX_KEY_AGE_DAYS} days old",
    "FSBP IAM.3",
    "CIS 1.14",
    regional=False,
)
def access_key_age(account: Account, now: datetime | None = None) -> Iterator[tuple[str, Status, str]]:
    iam = account.client("iam")
    now = now or datetime.now(UTC)
    for user in pages(iam, "list_users", "Users"):
        for key in pages(iam, "list_access_keys", "AccessKeyMetadata", UserName=user["UserName"]):
            if key.get("Status") != "Active":
                continue
            age = (now - key["CreateDate"]).days
            status: Status = "pass" if age <= MAX_KEY_AGE_DAYS else "fail"
            yield f"{user['UserName']}/{key['AccessKeyId']}", status, f"{age} days old"


@check(
    "AUD-IAM-003",
    f"Password policy: {MIN_PASSWORD_LENGTH}+ characters, {MIN_PASSWORD_REUSE} remembered",
    "FSBP IAM.7",
    "CIS 1.8",
    "CIS 1.9",
    regional=False,
)
def password_policy(account: Account) -> Iterator[tuple[str, Status, str]]:
    try:
        policy = account.client("iam").get_account_password_policy()["PasswordPolicy"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchEntity":
            raise
        yield "account/password-policy", "fail", "no password policy"
        return
    length = int(policy.get("MinimumPasswordLength", 0))
    reuse = int(policy.get("PasswordReusePrevention", 0))
    status: Status = "pass" if length >= MIN_PASSWORD_LENGTH and reuse >= MIN_PASSWORD_REUSE else "fail"
    yield (
        "account/password-policy",
        status,
        f"MinimumPasswordLength={length}, PasswordReusePrevention={reuse}",
    )
