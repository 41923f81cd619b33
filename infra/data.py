"""Data: RDS PostgreSQL for the ledger and ElastiCache Redis for API caching.

The ledger database is encrypted with the database key, reachable only from the workloads'
security group in the isolated data subnets, forces TLS, uses IAM database authentication for
services and a Secrets Manager-managed master password (rotated by RDS, never in config or state).
Redis encrypts at rest (cache key) and in transit, and authenticates each service as its own RBAC
user limited to its key prefix, with IAM (no password exists to keep in Secrets Manager or rotate).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from contracts.config import EnvironmentConfig
from infra.common import WalletComponent
from infra.iam import service_trust

LEDGER_DB = "ledger"
REDIS_PORT = 6379


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
    permissions_boundary_arn: pulumi.Input[str]
    cache_users: list[str]
    """Services that use the cache: each gets its own Redis user and secret."""


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
                "master_secret_arn": self.db.master_user_secrets[0].secret_arn,
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
        # Enhanced Monitoring: RDS publishes the instance's OS metrics with this role.
        monitoring_role = aws.iam.Role(
            self.name("db-monitoring"),
            assume_role_policy=service_trust("monitoring.rds.amazonaws.com"),
            permissions_boundary=args.permissions_boundary_arn,
            tags=restricted,
            opts=self.child_opts(),
        )
        monitoring_policy = aws.iam.RolePolicyAttachment(
            self.name("db-monitoring-policy"),
            role=monitoring_role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
            opts=self.child_opts(),
        )
        self.db = aws.rds.Instance(
            self.name("ledger"),
            identifier=self.name("ledger"),
            engine="postgres",
            engine_version=db_cfg.engine_version,
            instance_class=db_cfg.instance_class,
            db_name=LEDGER_DB,
            username=db_cfg.master_username,
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
            backup_window=db_cfg.backup_window,
            maintenance_window=db_cfg.maintenance_window,
            copy_tags_to_snapshot=True,
            deletion_protection=db_cfg.deletion_protection,
            skip_final_snapshot=False,
            final_snapshot_identifier=self.name("ledger-final"),
            auto_minor_version_upgrade=db_cfg.auto_minor_version_upgrade,
            performance_insights_enabled=db_cfg.performance_insights,
            performance_insights_kms_key_id=args.database_key_arn if db_cfg.performance_insights else None,
            performance_insights_retention_period=7 if db_cfg.performance_insights else None,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            monitoring_interval=db_cfg.monitoring_interval_seconds,
            monitoring_role_arn=monitoring_role.arn,
            ca_cert_identifier="rds-ca-rsa2048-g1",
            tags=restricted,
            opts=self.child_opts(stateful=True, depends_on=[monitoring_policy]),
        )

    def _cache(self, args: DataArgs) -> None:
        """Redis with RBAC: one user per service (its own key prefix), the built-in default user off.

        Users authenticate with IAM: a service's role may ``elasticache:Connect`` as its own user only,
        and signs a short-lived token per connection; there is no password to store, leak or rotate.
        """
        env = self.env
        cache_cfg = env.cache
        tags = self.tags(service="wallet", data_classification="confidential")
        default_user = aws.elasticache.User(
            self.name("cache-user-default"),
            user_id=self.name("cache-default"),
            user_name="default",
            engine="redis",
            access_string="off -@all",
            authentication_mode=aws.elasticache.UserAuthenticationModeArgs(type="no-password-required"),
            tags=tags,
            opts=self.child_opts(),
        )
        users: list[aws.elasticache.User] = [default_user]
        self.cache_user_ids: dict[str, str] = {}
        for service in args.cache_users:
            # IAM authentication needs the user id and name to be the same.
            user_id = self.name("cache", service)[:40]
            user = aws.elasticache.User(
                self.name("cache-user", service),
                user_id=user_id,
                user_name=user_id,
                engine="redis",
                access_string=f"on ~{service}:* +@all -@dangerous",
                authentication_mode=aws.elasticache.UserAuthenticationModeArgs(type="iam"),
                tags=self.tags(service=service, data_classification="confidential"),
                opts=self.child_opts(),
            )
            users.append(user)
            self.cache_user_ids[service] = user_id
        group = aws.elasticache.UserGroup(
            self.name("cache-users"),
            user_group_id=self.name("cache-users"),
            engine="redis",
            user_ids=[user.user_id for user in users],
            tags=tags,
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
        self.cache_name = self.name("cache")
        self.cache = aws.elasticache.ReplicationGroup(
            self.name("cache"),
            replication_group_id=self.cache_name,
            description="API cache (balances, quotes)",
            engine="redis",
            engine_version=cache_cfg.engine_version,
            node_type=cache_cfg.node_type,
            num_cache_clusters=cache_cfg.num_nodes,
            automatic_failover_enabled=replicated,
            multi_az_enabled=replicated,
            port=REDIS_PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[args.cache_security_group_id],
            at_rest_encryption_enabled=True,
            kms_key_id=args.cache_key_arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            user_group_ids=[group.user_group_id],
            snapshot_retention_limit=cache_cfg.snapshot_retention_days,
            auto_minor_version_upgrade=True,
            apply_immediately=not env.is_production,
            tags=tags,
            opts=self.child_opts(stateful=True),
        )
        # No password anywhere: each service signs its own 15-minute IAM token (WALLETSTUB_CACHE_IAM_AUTH).
        self.cache_urls: dict[str, pulumi.Output[str]] = {
            service: pulumi.Output.concat(
                "rediss://", user_id, "@", self.cache.primary_endpoint_address, f":{REDIS_PORT}/0"
            )
            for service, user_id in self.cache_user_ids.items()
        }
