"""Data: RDS PostgreSQL for the ledger and ElastiCache Redis for API caching.

The ledger database is encrypted with the database key, reachable only from the workloads'
security group in the isolated data subnets, forces TLS, uses IAM database authentication for
services and a Secrets Manager-managed master password (rotated by RDS, never in config or state).
Redis encrypts at rest (cache key) and in transit, and requires an auth token kept in Secrets
Manager under the secrets key.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from contracts.config import EnvironmentConfig
from infra.common import WalletComponent

LEDGER_DB = "ledger"


@dataclass
class DataArgs:
    """Subnets, security groups and the keys of each data class."""

    data_subnet_ids: list[pulumi.Output[str]]
    db_security_group_id: pulumi.Input[str]
    cache_security_group_id: pulumi.Input[str]
    database_key_arn: pulumi.Input[str]
    cache_key_arn: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]


class Data(WalletComponent):
    """The ledger database and the cache, with their subnet/parameter groups and secrets."""

    component = "data"

    def __init__(
        self, name: str, args: DataArgs, env: EnvironmentConfig, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("data:Data", name, env, opts)
        self._ledger(args)
        self._cache(args)
        self.register_outputs(
            {
                "db_address": self.db.address,
                "db_resource_id": self.db.resource_id,
                "cache_address": self.cache.primary_endpoint_address,
                "cache_auth_secret_arn": self.cache_auth_secret.arn,
            }
        )

    def _ledger(self, args: DataArgs) -> None:
        env = self.env
        db_cfg = env.database
        restricted = self.tags(service="wallet", data_classification="restricted")
        subnets = aws.rds.SubnetGroup(
            self.name("db-subnets"),
            subnet_ids=args.data_subnet_ids,
            description="Isolated data subnets of the ledger",
            tags=restricted,
            opts=self.child_opts(),
        )
        major = db_cfg.engine_version.split(".")[0]
        params = aws.rds.ParameterGroup(
            self.name("db-params"),
            family=f"postgres{major}",
            description="Ledger PostgreSQL: TLS forced, connections and slow statements logged",
            parameters=[
                aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="ssl_min_protocol_version", value="TLSv1.2"),
                aws.rds.ParameterGroupParameterArgs(name="log_connections", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_disconnections", value="1"),
                aws.rds.ParameterGroupParameterArgs(name="log_min_duration_statement", value="500"),
                aws.rds.ParameterGroupParameterArgs(name="password_encryption", value="scram-sha-256"),
            ],
            tags=restricted,
            opts=self.child_opts(),
        )
        aws.cloudwatch.LogGroup(
            self.name("db-logs"),
            name=f"/aws/rds/instance/{self.name('ledger')}/postgresql",
            retention_in_days=env.logging.audit_retention_days,
            kms_key_id=args.logs_key_arn,
            tags={**restricted, "log-class": "audit"},
            opts=self.child_opts(stateful=True),
        )
        self.db = aws.rds.Instance(
            self.name("ledger"),
            identifier=self.name("ledger"),
            engine="postgres",
            engine_version=db_cfg.engine_version,
            instance_class=db_cfg.instance_class,
            db_name=LEDGER_DB,
            username="ledger_admin",
            manage_master_user_password=True,
            master_user_secret_kms_key_id=args.secrets_key_arn,
            iam_database_authentication_enabled=True,
            allocated_storage=db_cfg.allocated_storage_gb,
            max_allocated_storage=db_cfg.max_allocated_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.database_key_arn,
            multi_az=db_cfg.multi_az,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[args.db_security_group_id],
            publicly_accessible=False,
            parameter_group_name=params.name,
            backup_retention_period=db_cfg.backup_retention_days,
            backup_window="02:00-03:00",
            maintenance_window="sun:03:30-sun:04:30",
            copy_tags_to_snapshot=True,
            deletion_protection=db_cfg.deletion_protection,
            skip_final_snapshot=False,
            final_snapshot_identifier=self.name("ledger-final"),
            auto_minor_version_upgrade=True,
            performance_insights_enabled=db_cfg.performance_insights,
            performance_insights_kms_key_id=args.database_key_arn if db_cfg.performance_insights else None,
            performance_insights_retention_period=7 if db_cfg.performance_insights else None,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            ca_cert_identifier="rds-ca-rsa2048-g1",
            tags=restricted,
            opts=self.child_opts(stateful=True),
        )

    def _cache(self, args: DataArgs) -> None:
        env = self.env
        cache_cfg = env.cache
        tags = self.tags(service="wallet", data_classification="confidential")
        token = random.RandomPassword(
            self.name("cache-auth-token"),
            length=48,
            special=False,
            opts=self.child_opts(),
        )
        self.cache_auth_secret = aws.secretsmanager.Secret(
            self.name("cache-auth"),
            name=f"walletops/{env.name}/cache/auth-token",
            description="Redis AUTH token of the API cache",
            kms_key_id=args.secrets_key_arn,
            recovery_window_in_days=7 if env.is_production else 0,
            tags=tags,
            opts=self.child_opts(stateful=True),
        )
        aws.secretsmanager.SecretVersion(
            self.name("cache-auth-value"),
            secret_id=self.cache_auth_secret.id,
            secret_string=token.result,
            opts=self.child_opts(),
        )
        subnets = aws.elasticache.SubnetGroup(
            self.name("cache-subnets"),
            subnet_ids=args.data_subnet_ids,
            description="Isolated data subnets of the cache",
            tags=tags,
            opts=self.child_opts(),
        )
        replicated = cache_cfg.num_nodes > 1
        self.cache = aws.elasticache.ReplicationGroup(
            self.name("cache"),
            replication_group_id=self.name("cache"),
            description="API cache (balances, quotes)",
            engine="redis",
            engine_version=cache_cfg.engine_version,
            node_type=cache_cfg.node_type,
            num_cache_clusters=cache_cfg.num_nodes,
            automatic_failover_enabled=replicated,
            multi_az_enabled=replicated,
            port=6379,
            subnet_group_name=subnets.name,
            security_group_ids=[args.cache_security_group_id],
            at_rest_encryption_enabled=True,
            kms_key_id=args.cache_key_arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=token.result,
            auth_token_update_strategy="ROTATE",  # noqa: S106 (a strategy name, not a secret)
            snapshot_retention_limit=cache_cfg.snapshot_retention_days,
            auto_minor_version_upgrade=True,
            apply_immediately=not env.is_production,
            tags=tags,
            opts=self.child_opts(stateful=True),
        )
