"""Customer-managed KMS keys, one per data class, and EBS encryption by default with the EBS key.

Separate keys per data class keep blast radius small and let key policies name exactly the AWS
services that may use each key (through ``kms:ViaService``), with rotation on for every key.
The EBS key policy names the Auto Scaling service-linked role (it launches the encrypted node
volumes); a fresh account has no such role, so it is created first and the policy is built from
its ARN, which orders the key after it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from contracts.config import EnvironmentConfig
from infra.common import WalletComponent, policy_json

DATA_CLASSES: dict[str, tuple[str, ...]] = {
    "ebs": ("ec2",),
    "database": ("rds",),
    "cache": ("elasticache",),
    "logs": (),
    "secrets": ("secretsmanager",),
    "s3": ("s3",),
    "notifications": ("sns",),
    "trail": (),
    "firewall": ("network-firewall",),
}
"""Data class → AWS services allowed to use its key on behalf of principals of this account
(``firewall``: the egress firewall's rules and policy, only where ``transit.egress_firewall``)."""
USE_ACTIONS: list[str] = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
]
"""What a service using a key needs (never key administration)."""
AUTOSCALING_ROLE_PATH = "aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"


@dataclass
class KmsArgs:
    """``account_id`` is the account that owns the keys (its root administers them)."""

    account_id: pulumi.Input[str]


class Kms(WalletComponent):
    """One rotating CMK per data class (``keys[name]``), with aliases and EBS default encryption."""

    component = "kms"

    def __init__(
        self, name: str, args: KmsArgs, env: EnvironmentConfig, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("kms:Kms", name, env, opts)
        self.keys: dict[str, aws.kms.Key] = {}
        self.autoscaling_role_arn = self._autoscaling_service_role(args.account_id)
        for data_class, services in DATA_CLASSES.items():
            if data_class == "firewall" and not env.transit.egress_firewall:
                continue
            key = aws.kms.Key(
                self.name("kms", data_class),
                description=f"walletops {env.name}: encrypts {data_class} data",
                enable_key_rotation=True,
                rotation_period_in_days=365,
                deletion_window_in_days=30,
                key_usage="ENCRYPT_DECRYPT",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                policy=pulumi.Output.all(args.account_id, self.autoscaling_role_arn).apply(
                    functools.partial(self._key_policy_of, data_class=data_class, services=services)
                ),
                tags=self.tags(data_classification="restricted"),
                opts=self.child_opts(stateful=True),
            )
            aws.kms.Alias(
                self.name("kms", data_class, "alias"),
                name=f"alias/{self.prefix}-{data_class}",
                target_key_id=key.key_id,
                opts=self.child_opts(),
            )
            self.keys[data_class] = key

        aws.ebs.EncryptionByDefault(self.name("ebs-encryption-default"), enabled=True, opts=self.child_opts())
        aws.ebs.DefaultKmsKey(
            self.name("ebs-default-key"), key_arn=self.keys["ebs"].arn, opts=self.child_opts()
        )
        self.register_outputs({name: key.arn for name, key in self.keys.items()})

    def arn(self, data_class: str) -> pulumi.Output[str]:
        return self.keys[data_class].arn

    def _autoscaling_service_role(self, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
        """ARN of ``AWSServiceRoleForAutoScaling``: created here unless config says the account has it."""
        if self.env.account.create_autoscaling_service_linked_role:
            role = aws.iam.ServiceLinkedRole(
                self.name("autoscaling-service-role"),
                aws_service_name="autoscaling.amazonaws.com",
                description="Auto Scaling launches the EKS nodes (needed by the EBS key policy)",
                tags=self.tags(),
                opts=self.child_opts(),
            )
            return role.arn
        return pulumi.Output.from_input(account_id).apply(
            lambda account: f"arn:aws:iam::{account}:role/{AUTOSCALING_ROLE_PATH}"
        )

    def _key_policy_of(self, values: list[str], data_class: str, services: tuple[str, ...]) -> str:
        account, autoscaling_role = values
        return self._key_policy(account, data_class, services, autoscaling_role)

    def _key_policy(
        self, account: str, data_class: str, services: tuple[str, ...], autoscaling_role: str
    ) -> str:
        region = self.env.region
        root = f"arn:aws:iam::{account}:root"
        statements: list[dict[str, object]] = [
            {
                "Sid": "AccountAdministersKey",
                "Effect": "Allow",
                "Principal": {"AWS": root},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
        if services:
            statements.append(
                {
                    "Sid": "UseThroughAwsServicesOnly",
                    "Effect": "Allow",
                    "Principal": {"AWS": root},
                    "Action": [*USE_ACTIONS, "kms:CreateGrant"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:ViaService": [f"{service}.{region}.amazonaws.com" for service in services],
                            "kms:CallerAccount": account,
                        }
                    },
                }
            )
        if data_class == "logs":
            statements.append(
                {
                    "Sid": "CloudWatchLogsOfThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": USE_ACTIONS,
                    "Resource": "*",
                    "Condition": {
                        "ArnLike": {
                            "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account}:*"
                        }
                    },
                }
            )
        if data_class == "ebs":
            statements.append(
                {
                    "Sid": "AutoScalingLaunchesEncryptedNodes",
                    "Effect": "Allow",
                    "Principal": {"AWS": autoscaling_role},
                    "Action": [*USE_ACTIONS, "kms:CreateGrant"],
                    "Resource": "*",
                }
            )
        if data_class == "trail":
            trail_arn = f"arn:aws:cloudtrail:{region}:{account}:trail/{self.prefix}-trail"
            statements.append(
                {
                    "Sid": "CloudTrailEncryptsThisTrailsLogs",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "kms:GenerateDataKey*",
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"aws:SourceArn": trail_arn},
                        "StringLike": {
                            "kms:EncryptionContext:aws:cloudtrail:arn": (
                                f"arn:aws:cloudtrail:*:{account}:trail/*"
                            )
                        },
                    },
                }
            )
            # DescribeKey carries no encryption context: AWS's CloudTrail key policy grants it apart.
            statements.append(
                {
                    "Sid": "CloudTrailDescribesTheKey",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "kms:DescribeKey",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
                }
            )
            statements.append(
                {
                    "Sid": "ConfigDeliversToTheTrailBucket",
                    "Effect": "Allow",
                    "Principal": {"Service": "config.amazonaws.com"},
                    "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            )
        if data_class == "s3":
            statements.append(
                {
                    "Sid": "ServerAccessLogsOfThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": "logging.s3.amazonaws.com"},
                    "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            )
            statements.append(
                {
                    "Sid": "LoadBalancerLogDeliveryOfThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": "delivery.logs.amazonaws.com"},
                    "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            )
        if data_class == "notifications":
            statements.append(
                {
                    "Sid": "BudgetsAndAlarmsPublishToEncryptedTopic",
                    "Effect": "Allow",
                    "Principal": {"Service": ["budgets.amazonaws.com", "cloudwatch.amazonaws.com"]},
                    "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                }
            )
        return policy_json(statements)
