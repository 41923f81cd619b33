"""Audit logging: the financial audit log group and the long-term, tamper-resistant archive bucket.

Financial and audit logs are kept at least 365 days (config enforces the floor). The archive
bucket is private (all public access blocked), encrypted with the S3 key, versioned, TLS-only,
locked against deletion by an Object Lock default retention (mode and days from config), logs its
requests to an access-log bucket and moves objects to Glacier after 90 days; application logs and
APM go to Elastic (see ARCHITECTURE). Bucket names carry account and region (S3 names are global).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from contracts.config import ElasticMode, EnvironmentConfig
from infra.common import WalletComponent, policy_json
from infra.iam import service_trust

ARCHIVE_TO_GLACIER_DAYS = 90
LOAD_BALANCER_LOG_PREFIX = "load-balancers"
SNAPSHOT_BUCKET_PURPOSE = "es-snapshots"
"""The Elasticsearch snapshot bucket's purpose in its name (``logging.elastic: eck``), also the prefix of
its server access logs here: the access-log bucket's policy names that bucket as a log source."""


@dataclass
class AuditLoggingArgs:
    """Keys, and the account id that makes the bucket name unique across all AWS accounts."""

    logs_key_arn: pulumi.Input[str]
    s3_key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]
    permissions_boundary_arn: pulumi.Input[str]
    """Carried by the replication roles (every role of the program carries the deploy boundary)."""


def bucket_name(prefix: str, purpose: str, account: str, region: str) -> str:
    """``<prefix>-<purpose>-<account>-<region>``: S3 names are global, so ours carry account and region."""
    name = f"{prefix}-{purpose}-{account}-{region}"
    if len(name) > 63:
        raise ValueError(f"bucket name {name!r} is longer than 63 characters; shorten {purpose!r}")
    return name


def private_bucket(
    owner: WalletComponent,
    label: str,
    name: pulumi.Input[str],
    key_arn: pulumi.Input[str],
    *,
    expire_noncurrent_days: int,
    object_lock: bool = False,
    glacier_after_days: int | None = None,
    provider: pulumi.ProviderResource | None = None,
    on_versioned: Callable[[aws.s3.Bucket, aws.s3.BucketVersioning], object] | None = None,
) -> aws.s3.Bucket:
    """A bucket no one outside the account reads: public access blocked, owner-enforced, KMS-encrypted,
    versioned, old versions expired, object events sent to EventBridge (the TLS-only policy is the
    caller's, with its own grants). ``provider``: another region's; ``on_versioned`` is called with the
    bucket and its versioning once both exist (replication needs versioning first)."""
    bucket = aws.s3.Bucket(
        owner.name(label),
        bucket=name,
        force_destroy=False,
        object_lock_enabled=object_lock or None,
        tags=owner.tags(data_classification="restricted"),
        opts=owner.child_opts(stateful=True, provider=provider),
    )
    aws.s3.BucketPublicAccessBlock(
        owner.name(label, "public-block"),
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=owner.child_opts(provider=provider),
    )
    aws.s3.BucketOwnershipControls(
        owner.name(label, "ownership"),
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=owner.child_opts(provider=provider),
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        owner.name(label, "encryption"),
        bucket=bucket.id,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="aws:kms", kms_master_key_id=key_arn
                ),
                bucket_key_enabled=True,
            )
        ],
        opts=owner.child_opts(provider=provider),
    )
    # Every object event goes to EventBridge (default bus), where alerting and archiving rules subscribe.
    aws.s3.BucketNotification(
        owner.name(label, "events"),
        bucket=bucket.id,
        eventbridge=True,
        opts=owner.child_opts(provider=provider),
    )
    versioning = aws.s3.BucketVersioning(
        owner.name(label, "versioning"),
        bucket=bucket.id,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
        opts=owner.child_opts(provider=provider),
    )
    aws.s3.BucketLifecycleConfiguration(
        owner.name(label, "lifecycle"),
        bucket=bucket.id,
        rules=[
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="retention",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                transitions=[
                    aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                        days=glacier_after_days, storage_class="GLACIER"
                    )
                ]
                if glacier_after_days
                else None,
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=expire_noncurrent_days
                ),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=7
                ),
            )
        ],
        opts=owner.child_opts(provider=provider),
    )
    if on_versioned is not None:
        on_versioned(bucket, versioning)
    return bucket


def tls_only(arn: str, *statements: dict[str, object]) -> str:
    """A bucket policy denying every request not made over TLS, plus ``statements``."""
    return policy_json(
        [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            *statements,
        ]
    )


class Replication:
    """S3 Cross-Region Replication of the audit buckets into ``logging.replica_region``.

    Each replicated bucket gets a twin there (``<purpose>-replica``) built like it: private, versioned,
    TLS-only, encrypted with a key of that region, Object-Locked like its source, its server access
    logs in the access-log bucket's twin (the first bucket replicated). A role per source bucket, under
    the deploy boundary, may read that bucket's versions (decrypting through S3 of the source region)
    and write only to its twin (encrypting through S3 of the replica region); delete markers are copied.
    """

    def __init__(
        self,
        owner: WalletComponent,
        region: str,
        account: pulumi.Output[str],
        permissions_boundary_arn: pulumi.Input[str],
    ) -> None:
        self.owner, self.region, self.account = owner, region, account
        self.permissions_boundary_arn = permissions_boundary_arn
        self.provider = aws.Provider(owner.name("aws-replica"), region=region, opts=owner.child_opts())
        self.key = aws.kms.Key(
            owner.name("kms-replica"),
            description=f"walletops {owner.env.name}: encrypts the audit replicas in {region}",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=30,
            policy=account.apply(self._key_policy),
            tags=owner.tags(data_classification="restricted"),
            opts=owner.child_opts(stateful=True, provider=self.provider),
        )
        aws.kms.Alias(
            owner.name("kms-replica-alias"),
            name=f"alias/{owner.prefix}-replica",
            target_key_id=self.key.key_id,
            opts=owner.child_opts(provider=self.provider),
        )
        self.log_target: aws.s3.Bucket | None = None
        self._logged: list[tuple[str, pulumi.Output[str]]] = []

    def _key_policy(self, account: str) -> str:
        return policy_json(
            [
                {
                    "Sid": "AccountAdministersKey",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "ServerAccessLogsOfTheReplicas",
                    "Effect": "Allow",
                    "Principal": {"Service": "logging.s3.amazonaws.com"},
                    "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                },
            ]
        )

    def replicate(
        self,
        label: str,
        purpose: str,
        source_key_arn: pulumi.Input[str],
        source: aws.s3.Bucket,
        versioning: aws.s3.BucketVersioning,
        *,
        expire_noncurrent_days: int,
        lock: tuple[str, int] | None = None,
    ) -> aws.s3.Bucket:
        """Create ``source``'s twin and the replication rule to it; returns the twin."""
        owner, region = self.owner, self.region
        twin_label = f"{label}-replica"
        twin_versions: list[aws.s3.BucketVersioning] = []
        twin = private_bucket(
            owner,
            twin_label,
            self.account.apply(lambda acct: bucket_name(owner.prefix, f"{purpose}-replica", acct, region)),
            self.key.arn,
            expire_noncurrent_days=expire_noncurrent_days,
            object_lock=lock is not None,
            provider=self.provider,
            on_versioned=lambda _bucket, twin_versioning: twin_versions.append(twin_versioning),
        )
        opts = owner.child_opts(provider=self.provider)
        if lock is not None:
            aws.s3.BucketObjectLockConfiguration(
                owner.name(twin_label, "lock"),
                bucket=twin.id,
                object_lock_enabled="Enabled",
                rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                    default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                        mode=lock[0], days=lock[1]
                    )
                ),
                opts=opts,
            )
        if self.log_target is None:
            self.log_target = twin
            aws.s3.BucketPolicy(
                owner.name(twin_label, "policy"),
                bucket=twin.id,
                policy=pulumi.Output.all(twin.arn, self.account).apply(self._log_target_policy),
                opts=opts,
            )
        else:
            aws.s3.BucketPolicy(
                owner.name(twin_label, "tls-only"), bucket=twin.id, policy=twin.arn.apply(tls_only), opts=opts
            )
            aws.s3.BucketLogging(
                owner.name(twin_label, "access-logs"),
                bucket=twin.id,
                target_bucket=self.log_target.id,
                target_prefix=f"{purpose}/",
                opts=opts,
            )
            self._logged.append((purpose, twin.arn))
        role = aws.iam.Role(
            owner.name(label, "replication"),
            assume_role_policy=service_trust("s3.amazonaws.com"),
            permissions_boundary=self.permissions_boundary_arn,
            tags=owner.tags(),
            opts=owner.child_opts(),
        )
        policy = aws.iam.RolePolicy(
            owner.name(label, "replication-permissions"),
            role=role.id,
            policy=pulumi.Output.all(source.arn, twin.arn, source_key_arn, self.key.arn).apply(
                lambda values: self._role_policy(*values)
            ),
            opts=owner.child_opts(),
        )
        aws.s3.BucketReplicationConfig(
            owner.name(label, "replication"),
            bucket=source.id,
            role=role.arn,
            rules=[
                aws.s3.BucketReplicationConfigRuleArgs(
                    id="cross-region",
                    status="Enabled",
                    filter=aws.s3.BucketReplicationConfigRuleFilterArgs(prefix=""),
                    delete_marker_replication=aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
                        status="Enabled"
                    ),
                    source_selection_criteria=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs(
                        sse_kms_encrypted_objects=aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs(
                            status="Enabled"
                        )
                    ),
                    destination=aws.s3.BucketReplicationConfigRuleDestinationArgs(
                        bucket=twin.arn,
                        storage_class="STANDARD",
                        encryption_configuration=aws.s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs(
                            replica_kms_key_id=self.key.arn
                        ),
                    ),
                )
            ],
            opts=owner.child_opts(depends_on=[versioning, *twin_versions, policy]),
        )
        return twin

    def _role_policy(self, source: str, twin: str, source_key: str, twin_key: str) -> str:
        home = self.owner.env.region
        return policy_json(
            [
                {
                    "Sid": "ReadTheSourceConfiguration",
                    "Effect": "Allow",
                    "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                    "Resource": source,
                },
                {
                    "Sid": "ReadTheSourceVersions",
                    "Effect": "Allow",
                    "Action": [
                        "s3:GetObjectVersionForReplication",
                        "s3:GetObjectVersionAcl",
                        "s3:GetObjectVersionTagging",
                        "s3:GetObjectRetention",
                        "s3:GetObjectLegalHold",
                    ],
                    "Resource": f"{source}/*",
                },
                {
                    "Sid": "WriteTheTwinOnly",
                    "Effect": "Allow",
                    "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                    "Resource": f"{twin}/*",
                },
                {
                    "Sid": "DecryptThroughS3OfTheSourceRegion",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": source_key,
                    "Condition": {"StringEquals": {"kms:ViaService": f"s3.{home}.amazonaws.com"}},
                },
                {
                    "Sid": "EncryptThroughS3OfTheReplicaRegion",
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                    "Resource": twin_key,
                    "Condition": {"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}},
                },
            ]
        )

    def _log_target_policy(self, values: list[str]) -> str:
        arn, account = values
        return tls_only(
            arn,
            {
                "Sid": "ServerAccessLogsOfTheReplicas",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{arn}/*",
                "Condition": {
                    "ArnLike": {
                        "aws:SourceArn": f"arn:aws:s3:::{self.owner.prefix}-*-replica-{account}-{self.region}"
                    },
                    "StringEquals": {"aws:SourceAccount": account},
                },
            },
        )


class AuditLogging(WalletComponent):
    """The audit log group of the ledger, the locked archive bucket and its access-log bucket."""

    component = "logging"

    def __init__(
        self,
        name: str,
        args: AuditLoggingArgs,
        env: EnvironmentConfig,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("logging:AuditLogging", name, env, opts)
        restricted = self.tags(data_classification="restricted")
        account = pulumi.Output.from_input(args.account_id)
        self.audit_group = aws.cloudwatch.LogGroup(
            self.name("audit-logs"),
            name=f"/walletops/{env.name}/audit",
            retention_in_days=env.logging.audit_retention_days,
            kms_key_id=args.logs_key_arn,
            tags={**restricted, "log-class": "audit"},
            opts=self.child_opts(stateful=True),
        )
        self.replication = (
            Replication(self, env.logging.replica_region, account, args.permissions_boundary_arn)
            if env.logging.replica_region
            else None
        )
        self.access_logs = private_bucket(
            self,
            "access-logs",
            account.apply(lambda acct: bucket_name(self.prefix, "s3-access-logs", acct, env.region)),
            args.s3_key_arn,
            expire_noncurrent_days=env.logging.access_retention_days,
            on_versioned=self.replicated(
                "access-logs",
                "s3-access-logs",
                args.s3_key_arn,
                expire_noncurrent_days=env.logging.access_retention_days,
            ),
        )
        self.bucket = private_bucket(
            self,
            "audit-archive",
            account.apply(lambda acct: bucket_name(self.prefix, "audit-archive", acct, env.region)),
            args.s3_key_arn,
            expire_noncurrent_days=env.logging.audit_retention_days,
            object_lock=True,
            glacier_after_days=ARCHIVE_TO_GLACIER_DAYS,
            on_versioned=self.replicated(
                "audit-archive",
                "audit-archive",
                args.s3_key_arn,
                expire_noncurrent_days=env.logging.audit_retention_days,
                lock=(env.account.archive_lock_mode, env.account.archive_lock_days),
            ),
        )
        aws.s3.BucketObjectLockConfiguration(
            self.name("audit-archive-lock"),
            bucket=self.bucket.id,
            object_lock_enabled="Enabled",
            rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                    mode=env.account.archive_lock_mode, days=env.account.archive_lock_days
                )
            ),
            opts=self.child_opts(),
        )
        aws.s3.BucketPolicy(
            self.name("audit-archive-tls-only"),
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(tls_only),
            opts=self.child_opts(),
        )
        self.access_logs_policy = aws.s3.BucketPolicy(
            self.name("access-logs-policy"),
            bucket=self.access_logs.id,
            policy=pulumi.Output.all(self.access_logs.arn, self.bucket.arn, account).apply(
                lambda values: tls_only(values[0], *self._log_delivery(values[0], values[1], values[2]))
            ),
            opts=self.child_opts(),
        )
        aws.s3.BucketLogging(
            self.name("audit-archive-access-logs"),
            bucket=self.bucket.id,
            target_bucket=self.access_logs.id,
            target_prefix="archive/",
            opts=self.child_opts(),
        )
        self.register_outputs({"audit_log_group": self.audit_group.name, "archive_bucket": self.bucket.id})

    def replicated(
        self,
        label: str,
        purpose: str,
        key_arn: pulumi.Input[str],
        *,
        expire_noncurrent_days: int,
        lock: tuple[str, int] | None = None,
    ) -> Callable[[aws.s3.Bucket, aws.s3.BucketVersioning], object] | None:
        """``private_bucket``'s ``on_versioned`` that replicates the bucket, or none in one region."""
        replication = self.replication
        if replication is None:
            return None
        return lambda bucket, versioning: replication.replicate(
            label,
            purpose,
            key_arn,
            bucket,
            versioning,
            expire_noncurrent_days=expire_noncurrent_days,
            lock=lock,
        )

    def _log_delivery(self, logs_arn: str, archive_arn: str, account: str) -> list[dict[str, object]]:
        """Who writes into the access-log bucket, each under its own prefix: S3 server access logs of
        the archive (and of the CloudTrail bucket where this stack owns the account baseline, and of
        the Elasticsearch snapshot bucket where ECK runs), and the load balancers' access logs
        (``LOAD_BALANCER_LOG_PREFIX``)."""
        region = self.env.region
        sources = {"archive": archive_arn}
        if self.env.account.baseline:
            sources["cloudtrail"] = f"arn:aws:s3:::{bucket_name(self.prefix, 'cloudtrail', account, region)}"
        if self.env.logging.elastic is ElasticMode.eck:
            snapshots = bucket_name(self.prefix, SNAPSHOT_BUCKET_PURPOSE, account, region)
            sources[SNAPSHOT_BUCKET_PURPOSE] = f"arn:aws:s3:::{snapshots}"
        statements: list[dict[str, object]] = [
            {
                "Sid": "ServerAccessLogsOf" + "".join(word.title() for word in prefix.split("-")),
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{logs_arn}/{prefix}/*",
                "Condition": {
                    "ArnLike": {"aws:SourceArn": source},
                    "StringEquals": {"aws:SourceAccount": account},
                },
            }
            for prefix, source in sources.items()
        ]
        # Network Load Balancer logs are delivered by CloudWatch Logs' delivery service (AWS's
        # documented statements: the ACL check and the write, both from this account's deliveries).
        delivery = {
            "ArnLike": {"aws:SourceArn": f"arn:aws:logs:{region}:{account}:*"},
            "StringEquals": {"aws:SourceAccount": account},
        }
        statements += [
            {
                "Sid": "LoadBalancerLogDeliveryAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "delivery.logs.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": logs_arn,
                "Condition": delivery,
            },
            {
                "Sid": "LoadBalancerLogDeliveryWrite",
                "Effect": "Allow",
                "Principal": {"Service": "delivery.logs.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{logs_arn}/{LOAD_BALANCER_LOG_PREFIX}/AWSLogs/{account}/*",
                "Condition": {
                    "ArnLike": delivery["ArnLike"],
                    "StringEquals": {**delivery["StringEquals"], "s3:x-amz-acl": "bucket-owner-full-control"},
                },
            },
        ]
        return statements
