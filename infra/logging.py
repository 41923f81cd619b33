"""Audit logging: the financial audit log group and the long-term, tamper-resistant archive bucket.

Financial and audit logs are kept at least 365 days (config enforces the floor). The archive
bucket is private (all public access blocked), encrypted with the S3 key, versioned, TLS-only and
moves objects to Glacier after 90 days; application logs and APM go to Elastic (see ARCHITECTURE).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from contracts.config import EnvironmentConfig
from infra.common import WalletComponent, policy_json


@dataclass
class AuditLoggingArgs:
    """Keys, and the account id that makes the bucket name unique across all AWS accounts."""

    logs_key_arn: pulumi.Input[str]
    s3_key_arn: pulumi.Input[str]
    account_id: pulumi.Input[str]


def bucket_name(prefix: str, purpose: str, account: str, region: str) -> str:
    """``<prefix>-<purpose>-<account>-<region>``: S3 names are global, so ours carry account and region."""
    name = f"{prefix}-{purpose}-{account}-{region}"
    if len(name) > 63:
        raise ValueError(f"bucket name {name!r} is longer than 63 characters; shorten {purpose!r}")
    return name


class AuditLogging(WalletComponent):
    """The audit log group of the ledger and the encrypted archive bucket."""

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
        self.audit_group = aws.cloudwatch.LogGroup(
            self.name("audit-logs"),
            name=f"/walletops/{env.name}/audit",
            retention_in_days=env.logging.audit_retention_days,
            kms_key_id=args.logs_key_arn,
            tags={**restricted, "log-class": "audit"},
            opts=self.child_opts(stateful=True),
        )
        self.bucket = aws.s3.Bucket(
            self.name("audit-archive"),
            bucket=pulumi.Output.from_input(args.account_id).apply(
                lambda account: bucket_name(self.prefix, "audit-archive", account, env.region)
            ),
            force_destroy=False,
            object_lock_enabled=env.is_production,
            tags=restricted,
            opts=self.child_opts(stateful=True),
        )
        aws.s3.BucketPublicAccessBlock(
            self.name("audit-archive-public-block"),
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=self.child_opts(),
        )
        aws.s3.BucketOwnershipControls(
            self.name("audit-archive-ownership"),
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=self.child_opts(),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            self.name("audit-archive-encryption"),
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=args.s3_key_arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=self.child_opts(),
        )
        aws.s3.BucketVersioning(
            self.name("audit-archive-versioning"),
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=self.child_opts(),
        )
        aws.s3.BucketLifecycleConfiguration(
            self.name("audit-archive-lifecycle"),
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="archive-to-glacier",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    transitions=[
                        aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                            days=90, storage_class="GLACIER"
                        )
                    ],
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=env.logging.audit_retention_days
                    ),
                )
            ],
            opts=self.child_opts(),
        )
        aws.s3.BucketPolicy(
            self.name("audit-archive-tls-only"),
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(
                lambda arn: policy_json(
                    [
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [arn, f"{arn}/*"],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ]
                )
            ),
            opts=self.child_opts(),
        )
        self.register_outputs({"audit_log_group": self.audit_group.name, "archive_bucket": self.bucket.id})
