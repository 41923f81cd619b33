"""The account's security baseline: CloudTrail, GuardDuty, AWS Config, Security Hub, Access Analyzer.

Created by the environment whose config owns the account (``account.baseline``):

- a multi-region CloudTrail with log-file validation, encrypted with the trail key, delivered to a
  TLS-only, versioned S3 bucket and to a CloudWatch log group (for metric filters and alarms);
- GuardDuty with S3, EKS audit-log, EBS malware, RDS login and runtime monitoring (EKS add-on and
  Fargate agents managed by GuardDuty);
- AWS Config recording every supported resource (global ones too) into the trail bucket, with the
  FSBP-aligned managed rules this platform can break;
- Security Hub with the configured standards (FSBP, CIS AWS 3.0, PCI DSS 4.0.1) and consolidated
  control findings;
- an IAM Access Analyzer for the account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from contracts.config import SECURITY_HUB_STANDARDS, EnvironmentConfig
from infra.common import WalletComponent, policy_json
from infra.iam import service_trust
from infra.logging import bucket_name, private_bucket

GUARDDUTY_FEATURES: dict[str, list[str]] = {
    "S3_DATA_EVENTS": [],
    "EKS_AUDIT_LOGS": [],
    "EBS_MALWARE_PROTECTION": [],
    "RDS_LOGIN_EVENTS": [],
    "RUNTIME_MONITORING": ["EKS_ADDON_MANAGEMENT", "ECS_FARGATE_AGENT_MANAGEMENT"],
}
"""GuardDuty protection plans (RUNTIME_MONITORING covers EKS; it excludes EKS_RUNTIME_MONITORING)."""
CONFIG_RULES: tuple[str, ...] = (
    "CLOUD_TRAIL_ENABLED",
    "MULTI_REGION_CLOUD_TRAIL_ENABLED",
    "CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED",
    "CLOUD_TRAIL_ENCRYPTION_ENABLED",
    "GUARDDUTY_ENABLED_CENTRALIZED",
    "SECURITYHUB_ENABLED",
    "IAM_ROOT_ACCESS_KEY_CHECK",
    "ROOT_ACCOUNT_MFA_ENABLED",
    "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS",
    "CMK_BACKING_KEY_ROTATION_ENABLED",
    "VPC_DEFAULT_SECURITY_GROUP_CLOSED",
    "VPC_FLOW_LOGS_ENABLED",
    "EKS_ENDPOINT_NO_PUBLIC_ACCESS",
    "EKS_SECRETS_ENCRYPTED",
    "RDS_STORAGE_ENCRYPTED",
    "RDS_INSTANCE_PUBLIC_ACCESS_CHECK",
    "RDS_SNAPSHOTS_PUBLIC_PROHIBITED",
    "ELASTICACHE_REPL_GRP_ENCRYPTED_AT_REST",
    "ELASTICACHE_REPL_GRP_ENCRYPTED_IN_TRANSIT",
    "S3_BUCKET_SSL_REQUESTS_ONLY",
    "S3_BUCKET_LEVEL_PUBLIC_ACCESS_PROHIBITED",
    "S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED",
    "API_GW_EXECUTION_LOGGING_ENABLED",
    "EC2_IMDSV2_CHECK",
    "EBS_IN_BACKUP_PLAN",
)
"""AWS Config managed rules (FSBP-aligned) over what this platform deploys or the account must hold."""


@dataclass
class BaselineArgs:
    """Keys for the trail and its log group, and the account the baseline belongs to."""

    account_id: pulumi.Input[str]
    trail_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    permissions_boundary_arn: pulumi.Input[str]
    access_logs_bucket: pulumi.Input[str]
    """The access-log bucket (``infra.logging``) that receives the trail bucket's server access logs."""
    replicate: Callable[[aws.s3.Bucket, aws.s3.BucketVersioning], object] | None = None
    """Copies the trail bucket to the replica region (``AuditLogging.replicated``), if there is one."""


class AccountBaseline(WalletComponent):
    """CloudTrail (S3 + CloudWatch), GuardDuty, AWS Config, Security Hub and Access Analyzer."""

    component = "baseline"

    def __init__(
        self,
        name: str,
        args: BaselineArgs,
        env: EnvironmentConfig,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("baseline:AccountBaseline", name, env, opts)
        self.args = args
        self.trail_name = self.name("trail")
        self.bucket, bucket_policy = self._trail_bucket()
        self.trail = self._trail(bucket_policy)
        self.detector = self._guardduty()
        self.recorder = self._config(bucket_policy)
        self.security_hub = self._security_hub()
        self.analyzer = aws.accessanalyzer.Analyzer(
            self.name("access-analyzer"),
            analyzer_name=self.name("access-analyzer"),
            type="ACCOUNT",
            tags=self.tags(),
            opts=self.child_opts(),
        )
        self.register_outputs(
            {
                "trail_arn": self.trail.arn,
                "trail_bucket": self.bucket.id,
                "guardduty_detector": self.detector.id,
            }
        )

    def _trail_bucket(self) -> tuple[aws.s3.Bucket, aws.s3.BucketPolicy]:
        env, args = self.env, self.args
        bucket = private_bucket(
            self,
            "trail-bucket",
            pulumi.Output.from_input(args.account_id).apply(
                lambda account: bucket_name(self.prefix, "cloudtrail", account, env.region)
            ),
            args.trail_key_arn,
            expire_noncurrent_days=env.logging.audit_retention_days,
            on_versioned=args.replicate,
        )

        def document(values: list[str]) -> str:
            arn, account = values
            trail = f"arn:aws:cloudtrail:{env.region}:{account}:trail/{self.trail_name}"
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
                    {
                        "Sid": "CloudTrailAclCheck",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudtrail.amazonaws.com"},
                        "Action": "s3:GetBucketAcl",
                        "Resource": arn,
                        "Condition": {"StringEquals": {"aws:SourceArn": trail}},
                    },
                    {
                        "Sid": "CloudTrailWrite",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudtrail.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": f"{arn}/AWSLogs/{account}/*",
                        "Condition": {
                            "StringEquals": {
                                "s3:x-amz-acl": "bucket-owner-full-control",
                                "aws:SourceArn": trail,
                            }
                        },
                    },
                    {
                        "Sid": "ConfigBucketCheck",
                        "Effect": "Allow",
                        "Principal": {"Service": "config.amazonaws.com"},
                        "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
                        "Resource": arn,
                        "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                    },
                    {
                        "Sid": "ConfigWrite",
                        "Effect": "Allow",
                        "Principal": {"Service": "config.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": f"{arn}/config/AWSLogs/{account}/Config/*",
                        "Condition": {
                            "StringEquals": {
                                "s3:x-amz-acl": "bucket-owner-full-control",
                                "aws:SourceAccount": account,
                            }
                        },
                    },
                ]
            )

        policy = aws.s3.BucketPolicy(
            self.name("trail-bucket-policy"),
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.arn, args.account_id).apply(document),
            opts=self.child_opts(),
        )
        aws.s3.BucketLogging(
            self.name("trail-bucket-access-logs"),
            bucket=bucket.id,
            target_bucket=args.access_logs_bucket,
            target_prefix="cloudtrail/",
            opts=self.child_opts(),
        )
        return bucket, policy

    def _trail(self, bucket_policy: aws.s3.BucketPolicy) -> aws.cloudtrail.Trail:
        env, args = self.env, self.args
        group = aws.cloudwatch.LogGroup(
            self.name("trail-logs"),
            name=f"/walletops/{env.name}/cloudtrail",
            retention_in_days=env.logging.audit_retention_days,
            kms_key_id=args.logs_key_arn,
            tags={**self.tags(), "log-class": "audit"},
            opts=self.child_opts(stateful=True),
        )
        role = aws.iam.Role(
            self.name("trail-to-logs"),
            name=self.name("trail-to-logs"),
            assume_role_policy=service_trust("cloudtrail.amazonaws.com"),
            permissions_boundary=args.permissions_boundary_arn,
            tags=self.tags(),
            opts=self.child_opts(),
        )
        delivery = aws.iam.RolePolicy(
            self.name("trail-to-logs-write"),
            role=role.id,
            policy=group.arn.apply(
                lambda arn: policy_json(
                    [
                        {
                            "Sid": "WriteTheTrailLogGroup",
                            "Effect": "Allow",
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                            "Resource": f"{arn}:*",
                        }
                    ]
                )
            ),
            opts=self.child_opts(),
        )
        return aws.cloudtrail.Trail(
            self.trail_name,
            name=self.trail_name,
            s3_bucket_name=self.bucket.id,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            kms_key_id=args.trail_key_arn,
            cloud_watch_logs_group_arn=group.arn.apply(lambda arn: f"{arn}:*"),
            cloud_watch_logs_role_arn=role.arn,
            tags=self.tags(),
            opts=self.child_opts(depends_on=[bucket_policy, delivery]),
        )

    def _guardduty(self) -> aws.guardduty.Detector:
        detector = aws.guardduty.Detector(
            self.name("guardduty"),
            enable=True,
            finding_publishing_frequency="FIFTEEN_MINUTES",
            tags=self.tags(),
            opts=self.child_opts(),
        )
        for feature, extras in GUARDDUTY_FEATURES.items():
            aws.guardduty.DetectorFeature(
                self.name("guardduty", feature.lower().replace("_", "-")),
                detector_id=detector.id,
                name=feature,
                status="ENABLED",
                additional_configurations=[
                    aws.guardduty.DetectorFeatureAdditionalConfigurationArgs(name=extra, status="ENABLED")
                    for extra in extras
                ]
                or None,
                opts=self.child_opts(),
            )
        return detector

    def _config(self, bucket_policy: aws.s3.BucketPolicy) -> aws.cfg.Recorder:
        role = aws.iam.ServiceLinkedRole(
            self.name("config-service-role"),
            aws_service_name="config.amazonaws.com",
            description="AWS Config records this account's resources",
            tags=self.tags(),
            opts=self.child_opts(),
        )
        recorder = aws.cfg.Recorder(
            self.name("config-recorder"),
            name=self.name("config-recorder"),
            role_arn=role.arn,
            recording_group=aws.cfg.RecorderRecordingGroupArgs(
                all_supported=True, include_global_resource_types=True
            ),
            opts=self.child_opts(),
        )
        channel = aws.cfg.DeliveryChannel(
            self.name("config-delivery"),
            name=self.name("config-delivery"),
            s3_bucket_name=self.bucket.id,
            s3_key_prefix="config",
            s3_kms_key_arn=self.args.trail_key_arn,
            snapshot_delivery_properties=aws.cfg.DeliveryChannelSnapshotDeliveryPropertiesArgs(
                delivery_frequency="TwentyFour_Hours"
            ),
            opts=self.child_opts(depends_on=[recorder, bucket_policy]),
        )
        status = aws.cfg.RecorderStatus(
            self.name("config-recorder-status"),
            name=recorder.name,
            is_enabled=True,
            opts=self.child_opts(depends_on=[channel]),
        )
        for identifier in CONFIG_RULES:
            aws.cfg.Rule(
                self.name("config", identifier.lower().replace("_", "-")),
                name=self.name(identifier.lower().replace("_", "-")),
                source=aws.cfg.RuleSourceArgs(owner="AWS", source_identifier=identifier),
                tags=self.tags(),
                opts=self.child_opts(depends_on=[status]),
            )
        return recorder

    def _security_hub(self) -> aws.securityhub.Account:
        hub = aws.securityhub.Account(
            self.name("security-hub"),
            enable_default_standards=False,
            auto_enable_controls=True,
            control_finding_generator="SECURITY_CONTROL",
            opts=self.child_opts(),
        )
        for standard in self.env.account.security_hub_standards:
            aws.securityhub.StandardsSubscription(
                self.name("security-hub", standard.replace(".", "-")),
                standards_arn=f"arn:aws:securityhub:{self.env.region}::{SECURITY_HUB_STANDARDS[standard]}",
                opts=self.child_opts(depends_on=[hub]),
            )
        return hub
