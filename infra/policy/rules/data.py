"""Data stores: RDS, ElastiCache, S3 and Secrets Manager are encrypted with CMKs, private and recoverable."""

from __future__ import annotations

import re
from collections.abc import Iterator

from infra.policy.model import (
    Context,
    NotApplicable,
    Resource,
    Severity,
    Violation,
    as_list,
    policy_document,
    prop,
    resource_rule,
    secret_value,
    stack_rule,
    statements,
)
from infra.policy.rules.kms import wildcard_principal_statements

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
CACHE = "aws:elasticache/replicationGroup:ReplicationGroup"
BUCKET = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
BUCKET_PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
BUCKET_VERSIONING = (
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketVersioningV2:BucketVersioningV2",
)
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
SECRET = "aws:secretsmanager/secret:Secret"  # noqa: S105 - a type token
PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
MIN_BACKUP_DAYS = 7


def _prod_only(ctx: Context) -> None:
    if not ctx.is_production:
        raise NotApplicable(f"required in prod only, this is {ctx.env}")


@resource_rule(
    "WO-RDS-001",
    "RDS storage is encrypted with a customer-managed KMS key",
    severity=Severity.mandatory,
    controls=("FSBP RDS.3", "CIS 2.3.1", "PCI 3.5.1"),
    remediation="Set storage_encrypted=True and kms_key_id to the database CMK.",
    types=(RDS_INSTANCE,),
)
def rds_encrypted(resource: Resource, ctx: Context) -> str | None:
    if prop(resource, "storageEncrypted") is not True:
        return "storageEncrypted is not true"
    if not prop(resource, "kmsKeyId"):
        return "encrypted with the AWS-managed aws/rds key, not a CMK (kmsKeyId unset)"
    return None


@resource_rule(
    "WO-RDS-002",
    "RDS instances are not publicly accessible",
    severity=Severity.mandatory,
    controls=("FSBP RDS.2", "CIS 2.3.3", "PCI 1.4.4"),
    remediation="Set publicly_accessible=False and place the instance in the isolated data subnets.",
    types=(RDS_INSTANCE,),
)
def rds_not_public(resource: Resource, ctx: Context) -> str | None:
    return "publiclyAccessible is true" if prop(resource, "publiclyAccessible") is True else None


@resource_rule(
    "WO-RDS-003",
    "RDS keeps automated backups at least 7 days",
    severity=Severity.mandatory,
    controls=("FSBP RDS.11", "PCI 12.10.1"),
    remediation="Set database.backup_retention_days to 7 or more.",
    types=(RDS_INSTANCE,),
)
def rds_backups(resource: Resource, ctx: Context) -> str | None:
    days = int(prop(resource, "backupRetentionPeriod", 0))
    return f"backupRetentionPeriod is {days} (< {MIN_BACKUP_DAYS})" if days < MIN_BACKUP_DAYS else None


@resource_rule(
    "WO-RDS-004",
    "RDS is Multi-AZ in prod",
    severity=Severity.mandatory,
    controls=("FSBP RDS.5", "PCI 12.10.1"),
    remediation="Set database.multi_az: true in Pulumi.prod.yaml.",
    types=(RDS_INSTANCE,),
)
def rds_multi_az(resource: Resource, ctx: Context) -> str | None:
    _prod_only(ctx)
    return None if prop(resource, "multiAz") is True else "multiAz is not true"


@resource_rule(
    "WO-RDS-005",
    "RDS has deletion protection in prod",
    severity=Severity.mandatory,
    controls=("FSBP RDS.8",),
    remediation="Set database.deletion_protection: true in Pulumi.prod.yaml.",
    types=(RDS_INSTANCE,),
)
def rds_deletion_protection(resource: Resource, ctx: Context) -> str | None:
    _prod_only(ctx)
    return None if prop(resource, "deletionProtection") is True else "deletionProtection is not true"


@resource_rule(
    "WO-RDS-006",
    "RDS accepts IAM database authentication",
    severity=Severity.mandatory,
    controls=("FSBP RDS.10", "PCI 8.3.1", "PCI 8.6.2"),
    remediation="Set iam_database_authentication_enabled=True and connect workloads with IAM tokens.",
    types=(RDS_INSTANCE,),
)
def rds_iam_auth(resource: Resource, ctx: Context) -> str | None:
    if prop(resource, "iamDatabaseAuthenticationEnabled") is not True:
        return "iamDatabaseAuthenticationEnabled is not true"
    return None


@resource_rule(
    "WO-RDS-007",
    "RDS forces SSL through its parameter group",
    severity=Severity.mandatory,
    controls=("PCI 4.2.1", "PCI 2.2.7"),
    remediation="Attach an aws.rds.ParameterGroup with rds.force_ssl=1 (parameter_group_name).",
    types=(RDS_INSTANCE,),
    graph=True,
)
def rds_force_ssl(resource: Resource, ctx: Context) -> str | None:
    name = prop(resource, "parameterGroupName")
    groups = [
        group
        for group in ctx.of_type(RDS_PARAMETER_GROUP)
        if group in ctx.referenced_by(resource, RDS_PARAMETER_GROUP) or (name and prop(group, "name") == name)
    ]
    if not groups:
        return "uses the default parameter group (rds.force_ssl=0)"
    for group in groups:
        for parameter in prop(group, "parameters", []) or []:
            if parameter.get("name") == "rds.force_ssl" and str(parameter.get("value")) == "1":
                return None
    return f"parameter group {groups[0]['name']} does not set rds.force_ssl=1"


@resource_rule(
    "WO-RDS-008",
    "RDS applies minor engine upgrades automatically",
    severity=Severity.mandatory,
    controls=("FSBP RDS.13", "CIS 2.3.2", "PCI 6.3.3"),
    remediation="Leave auto_minor_version_upgrade at True (the provider default).",
    types=(RDS_INSTANCE,),
)
def rds_minor_upgrades(resource: Resource, ctx: Context) -> str | None:
    return (
        "autoMinorVersionUpgrade is false"
        if prop(resource, "autoMinorVersionUpgrade", True) is False
        else None
    )


@resource_rule(
    "WO-RDS-009",
    "RDS exports PostgreSQL logs to CloudWatch and copies tags to snapshots",
    severity=Severity.advisory,
    controls=("FSBP RDS.36", "FSBP RDS.17", "PCI 10.2.1"),
    remediation="Set enabled_cloudwatch_logs_exports=['postgresql'] and copy_tags_to_snapshot=True.",
    types=(RDS_INSTANCE,),
)
def rds_logs_and_snapshot_tags(resource: Resource, ctx: Context) -> str | None:
    problems = []
    if "postgresql" not in as_list(prop(resource, "enabledCloudwatchLogsExports")):
        problems.append("postgresql log not exported")
    if prop(resource, "copyTagsToSnapshot") is not True:
        problems.append("copyTagsToSnapshot is not true")
    return "; ".join(problems) or None


@resource_rule(
    "WO-RDS-011",
    "RDS instances report OS metrics through Enhanced Monitoring",
    severity=Severity.mandatory,
    controls=("FSBP RDS.6", "PCI 10.2.1"),
    remediation="Set monitoring_interval (database.monitoring_interval_seconds) and monitoring_role_arn to a "
    "role trusted by monitoring.rds.amazonaws.com.",
    types=(RDS_INSTANCE,),
)
def rds_enhanced_monitoring(resource: Resource, ctx: Context) -> str | None:
    if int(prop(resource, "monitoringInterval", 0) or 0) <= 0:
        return "monitoringInterval is 0 (Enhanced Monitoring off)"
    return None if prop(resource, "monitoringRoleArn") else "no monitoringRoleArn for Enhanced Monitoring"


@resource_rule(
    "WO-ECC-001",
    "ElastiCache encrypts data at rest with a customer-managed key",
    severity=Severity.mandatory,
    controls=("FSBP ElastiCache.4", "PCI 3.5.1"),
    remediation="Set at_rest_encryption_enabled=True and kms_key_id to the cache CMK.",
    types=(CACHE,),
)
def cache_at_rest(resource: Resource, ctx: Context) -> str | None:
    if str(prop(resource, "atRestEncryptionEnabled", "false")).lower() != "true":
        return "atRestEncryptionEnabled is not true"
    return None if prop(resource, "kmsKeyId") else "encrypted with the AWS-managed key (kmsKeyId unset)"


@resource_rule(
    "WO-ECC-002",
    "ElastiCache encrypts data in transit",
    severity=Severity.mandatory,
    controls=("FSBP ElastiCache.5", "PCI 4.2.1"),
    remediation="Set transit_encryption_enabled=True (transit_encryption_mode 'required').",
    types=(CACHE,),
)
def cache_in_transit(resource: Resource, ctx: Context) -> str | None:
    if prop(resource, "transitEncryptionEnabled") is not True:
        return "transitEncryptionEnabled is not true"
    if prop(resource, "transitEncryptionMode", "required") != "required":
        return "transitEncryptionMode is 'preferred': plaintext clients are still accepted"
    return None


@resource_rule(
    "WO-ECC-003",
    "ElastiCache requires authentication",
    severity=Severity.mandatory,
    controls=("FSBP ElastiCache.6", "PCI 8.3.1"),
    remediation="Set auth_token from a generated secret (kept in Secrets Manager) or RBAC user_group_ids.",
    types=(CACHE,),
)
def cache_auth(resource: Resource, ctx: Context) -> str | None:
    if secret_value(prop(resource, "authToken")) or prop(resource, "userGroupIds"):
        return None
    return "no authToken and no userGroupIds: any client in the subnet can connect"


@resource_rule(
    "WO-ECC-004",
    "ElastiCache keeps snapshots, upgrades minor versions and fails over in prod",
    severity=Severity.advisory,
    controls=("FSBP ElastiCache.1", "FSBP ElastiCache.2", "FSBP ElastiCache.3"),
    remediation="Set snapshot_retention_limit >= 1, auto_minor_version_upgrade=True, and in prod "
    "automatic_failover_enabled=True with at least two nodes.",
    types=(CACHE,),
)
def cache_resilience(resource: Resource, ctx: Context) -> str | None:
    problems = []
    if int(prop(resource, "snapshotRetentionLimit", 0)) < 1:
        problems.append("no snapshots kept")
    if str(prop(resource, "autoMinorVersionUpgrade", "true")).lower() == "false":
        problems.append("autoMinorVersionUpgrade is false")
    if ctx.is_production and prop(resource, "automaticFailoverEnabled") is not True:
        problems.append("automaticFailoverEnabled is not true in prod")
    return "; ".join(problems) or None


def _bucket_companions(ctx: Context, bucket: Resource, types: tuple[str, ...] | str) -> list[Resource]:
    return ctx.referencing(bucket, *((types,) if isinstance(types, str) else types))


@resource_rule(
    "WO-S3-001",
    "S3 buckets block all public access",
    severity=Severity.mandatory,
    controls=("FSBP S3.8", "CIS 2.1.4", "PCI 1.4.4"),
    remediation="Add aws.s3.BucketPublicAccessBlock(bucket=...) with all four flags True.",
    types=BUCKET,
    graph=True,
)
def s3_public_access(resource: Resource, ctx: Context) -> str | None:
    blocks = _bucket_companions(ctx, resource, BUCKET_PAB)
    if not blocks:
        return "no public access block"
    missing = [flag for flag in PAB_FLAGS if prop(blocks[0], flag) is not True]
    return f"public access block leaves {', '.join(missing)} off" if missing else None


@resource_rule(
    "WO-S3-002",
    "S3 buckets are encrypted with SSE-KMS under a customer key",
    severity=Severity.mandatory,
    controls=("FSBP S3.17", "PCI 3.5.1"),
    remediation="Add aws.s3.BucketServerSideEncryptionConfiguration with sse_algorithm 'aws:kms', "
    "kms_master_key_id the S3 CMK and bucket_key_enabled=True.",
    types=BUCKET,
    graph=True,
)
def s3_encryption(resource: Resource, ctx: Context) -> str | None:
    for config in _bucket_companions(ctx, resource, BUCKET_SSE):
        for rule in prop(config, "rules", []) or []:
            default = rule.get("applyServerSideEncryptionByDefault") or {}
            if default.get("sseAlgorithm") in ("aws:kms", "aws:kms:dsse") and default.get("kmsMasterKeyId"):
                return None
    return "no SSE-KMS default encryption with a customer key"


@resource_rule(
    "WO-S3-003",
    "S3 buckets keep object versions",
    severity=Severity.mandatory,
    controls=("FSBP S3.14", "PCI 10.3.3"),
    remediation="Add aws.s3.BucketVersioning with versioning_configuration.status 'Enabled'.",
    types=BUCKET,
    graph=True,
)
def s3_versioning(resource: Resource, ctx: Context) -> str | None:
    for versioning in _bucket_companions(ctx, resource, BUCKET_VERSIONING):
        if prop(versioning, "versioningConfiguration.status") == "Enabled":
            return None
    return "versioning is not enabled"


def denies_insecure_transport(policy: object) -> bool:
    """True when a statement denies every S3 action while ``aws:SecureTransport`` is false."""
    for statement in statements(policy_document(policy)):
        if statement.get("Effect") != "Deny":
            continue
        condition = statement.get("Condition", {}).get("Bool", {})
        actions = as_list(statement.get("Action"))
        if str(condition.get("aws:SecureTransport", "")).lower() == "false" and (
            "s3:*" in actions or "*" in actions
        ):
            return True
    return False


@resource_rule(
    "WO-S3-004",
    "S3 bucket policies deny requests without TLS",
    severity=Severity.mandatory,
    controls=("FSBP S3.5", "CIS 2.1.1", "PCI 4.2.1"),
    remediation="Attach a bucket policy denying s3:* when aws:SecureTransport is false.",
    types=BUCKET,
    graph=True,
)
def s3_tls_only(resource: Resource, ctx: Context) -> str | None:
    policies = _bucket_companions(ctx, resource, BUCKET_POLICY)
    if any(denies_insecure_transport(prop(policy, "policy")) for policy in policies):
        return None
    return "no bucket policy denying aws:SecureTransport=false"


@stack_rule(
    "WO-S3-005",
    "Bucket policies never grant to a wildcard principal",
    severity=Severity.mandatory,
    controls=("FSBP S3.2", "FSBP S3.3", "PCI 1.4.4", "PCI 7.2.1"),
    remediation="Grant to named roles or services, or constrain '*' with aws:PrincipalOrgID / SourceVpce.",
)
def s3_wildcard_grant(ctx: Context) -> Iterator[Violation]:
    for policy in ctx.of_type(BUCKET_POLICY):
        offending = list(wildcard_principal_statements(prop(policy, "policy")))
        if offending:
            yield Violation(
                f"{policy['name']}: Allow to '*' without condition ({', '.join(offending)})", policy["urn"]
            )


@resource_rule(
    "WO-SM-001",
    "Secrets Manager secrets are encrypted with a customer-managed key",
    severity=Severity.mandatory,
    controls=("PCI 3.5.1", "PCI 3.6.1"),
    remediation="Set kms_key_id to the secrets CMK.",
    types=(SECRET,),
)
def secret_cmk(resource: Resource, ctx: Context) -> str | None:
    key = str(prop(resource, "kmsKeyId", ""))
    if not key or "alias/aws/" in key:
        return "encrypted with the AWS-managed aws/secretsmanager key"
    return None


@resource_rule(
    "WO-SM-002",
    "Deleted secrets stay recoverable for at least 7 days",
    severity=Severity.advisory,
    controls=("PCI 12.10.1",),
    remediation="Leave recovery_window_in_days at 7-30 (0 deletes immediately).",
    types=(SECRET,),
)
def secret_recovery_window(resource: Resource, ctx: Context) -> str | None:
    window = int(prop(resource, "recoveryWindowInDays", 30))
    return f"recoveryWindowInDays is {window}" if window < 7 else None


@resource_rule(
    "WO-RDS-010",
    "With automatic minor upgrades on, the engine version names the major only",
    severity=Severity.mandatory,
    controls=("FSBP RDS.13", "PCI 6.3.3"),
    remediation="Set database.engine_version to the major ('16'), or turn auto_minor_version_upgrade off "
    "to pin a minor: a pinned minor makes every deploy after an AWS upgrade try to downgrade it.",
    types=(RDS_INSTANCE,),
)
def rds_version_floats(resource: Resource, ctx: Context) -> str | None:
    version = str(prop(resource, "engineVersion", ""))
    if prop(resource, "autoMinorVersionUpgrade", True) and "." in version:
        return f"engineVersion {version} pins a minor while AWS upgrades minors automatically"
    return None


@resource_rule(
    "WO-ECC-005",
    "Redis authenticates each service as its own RBAC user, not with one shared AUTH token",
    severity=Severity.mandatory,
    controls=("PCI 8.2.1", "PCI 8.3.1", "PCI 8.6.3"),
    remediation="Use an ElastiCache user group (user_group_ids) with one user per service; rotating a "
    "user's password invalidates the old one at once (a ROTATEd AUTH token stays valid).",
    types=(CACHE,),
)
def cache_rbac(resource: Resource, ctx: Context) -> str | None:
    if secret_value(prop(resource, "authToken")) or not prop(resource, "userGroupIds"):
        return "a shared AUTH token instead of per-service RBAC users"
    return None


@resource_rule(
    "WO-S3-006",
    "Bucket names are unique to the account (S3 names are global)",
    severity=Severity.mandatory,
    controls=("PCI 12.10.1",),
    remediation="Name buckets <prefix>-<purpose>-<account id>-<region> (infra.logging.bucket_name) or use "
    "bucket_prefix: a fixed name is taken once, by whichever account creates it first.",
    types=BUCKET,
)
def bucket_name_unique(resource: Resource, ctx: Context) -> str | None:
    name = str(prop(resource, "bucket") or "")
    if prop(resource, "bucketPrefix") or re.search(r"(^|-)[0-9]{12}(-|$)", name):
        return None
    return f"bucket name {name!r} carries no account id: another account may already own it"
