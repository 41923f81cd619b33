"""The walletops Pulumi program: one environment, composed from its components.

Order follows the dependencies: KMS keys first (everything encrypts with them), then IAM and the
network, compute and its add-ons, data, audit logging (its access-log bucket receives the load
balancer's logs), transit TLS, the gateway (its load balancer fronts the workloads), observability
(where logs and traces go), the workloads, the account baseline (where this environment owns the
account), the budget (from the recorded cost estimate), the CloudWatch alarms to its topic and, where
enabled, the in-cluster load test. The same function runs under ``pulumi up`` (``__main__.py``) and
under the offline planner; nothing here knows which.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_aws as aws

from contracts.config import ComputeEngine, EnvironmentConfig
from contracts.estimates import monthly_estimate
from contracts.gateway_spec import load_gateway_spec
from infra.alarms import Alarms, AlarmsArgs
from infra.baseline import AccountBaseline, BaselineArgs
from infra.budgets import Budgets, BudgetsArgs
from infra.ci_runner import CiRunner, CiRunnerArgs, runner_label
from infra.cluster_addons import ClusterAddons, ClusterAddonsArgs
from infra.compute import Compute, ComputeArgs
from infra.data import Data, DataArgs
from infra.gateway import Gateway, GatewayArgs
from infra.iam import Iam, IamArgs
from infra.kms import Kms, KmsArgs
from infra.loadtest_cluster import build_loadtest_cluster
from infra.logging import SNAPSHOT_BUCKET_PURPOSE, AuditLogging, AuditLoggingArgs
from infra.network import Network, NetworkArgs, carve_subnets
from infra.observability import (
    APM_TOKEN_KEY,
    APM_TOKEN_SECRET,
    Observability,
    ObservabilityArgs,
    apm_server_url,
)
from infra.services import CONTAINER_PORT, workloads_of
from infra.transit import TransitTls, TransitTlsArgs
from infra.workloads import Workloads, WorkloadsArgs

PROJECT_DIR = Path(__file__).resolve().parent.parent


def build_environment(env: EnvironmentConfig, project_dir: Path = PROJECT_DIR) -> None:
    """Create every component of ``env`` and export the endpoints operators and CI need."""
    spec = load_gateway_spec(project_dir)
    workloads = workloads_of(env)
    provider = aws.Provider(f"{env.prefix}-aws", region=env.region)
    opts = pulumi.ResourceOptions(providers={"aws": provider})
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id

    kms = Kms("kms", KmsArgs(account_id=account_id), env, opts)
    iam = Iam("iam", IamArgs(account_id=account_id), env, opts)
    network = Network(
        "network",
        NetworkArgs(
            logs_key_arn=kms.arn("logs"),
            firewall_key_arn=kms.arn("firewall") if env.transit.egress_firewall else None,
            listener_ports=[workload.port for workload in workloads],
            target_ports=[workload.port for workload in workloads]
            if env.compute_engine is ComputeEngine.eks
            else [CONTAINER_PORT],
            permissions_boundary_arn=iam.boundary_arn,
        ),
        env,
        opts,
    )
    app_subnet_ids = [subnet.id for subnet in network.app_subnets]
    compute = Compute(
        "compute",
        ComputeArgs(
            app_subnet_ids=app_subnet_ids,
            app_security_group_id=network.app_sg.id,
            secrets_key_arn=kms.arn("secrets"),
            ebs_key_arn=kms.arn("ebs"),
            logs_key_arn=kms.arn("logs"),
            cluster_role=iam.cluster_role,
            node_role=iam.node_role,
            deploy_role_arn=iam.deploy_role.arn,
            account_id=account_id,
        ),
        env,
        opts,
    )
    data = Data(
        "data",
        DataArgs(
            data_subnet_ids=[subnet.id for subnet in network.data_subnets],
            db_security_group_id=network.db_sg.id,
            cache_security_group_id=network.cache_sg.id,
            database_key_arn=kms.arn("database"),
            cache_key_arn=kms.arn("cache"),
            secrets_key_arn=kms.arn("secrets"),
            logs_key_arn=kms.arn("logs"),
            permissions_boundary_arn=iam.boundary_arn,
            cache_users=[workload.name for workload in workloads if workload.uses_cache],
        ),
        env,
        opts,
    )
    audit_logging = AuditLogging(
        "logging",
        AuditLoggingArgs(
            logs_key_arn=kms.arn("logs"),
            s3_key_arn=kms.arn("s3"),
            account_id=account_id,
            permissions_boundary_arn=iam.boundary_arn,
        ),
        env,
        opts,
    )
    tls = TransitTls(
        "transit", TransitTlsArgs(vpc_id=network.vpc.id, permissions_boundary_arn=iam.boundary_arn), env, opts
    )
    gateway = Gateway(
        "gateway",
        GatewayArgs(
            spec=spec,
            workloads=workloads,
            app_subnet_ids=app_subnet_ids,
            lb_security_group_id=network.lb_sg.id,
            logs_key_arn=kms.arn("logs"),
            permissions_boundary_arn=iam.boundary_arn,
            nlb_host=tls.nlb_host,
            nlb_certificate_arn=tls.nlb_certificate_arn,
            access_logs_bucket=audit_logging.access_logs.id,
            access_logs_policy=audit_logging.access_logs_policy,
        ),
        env,
        opts,
    )
    tls.point_at(gateway.nlb)
    if env.compute_engine is ComputeEngine.eks:
        gateway.attach_node_groups(compute.node_groups)
        assert compute.eks_cluster is not None and compute.oidc_provider is not None
        assert compute.k8s_provider is not None
        tls.install_issuer(compute.k8s_provider, compute.oidc_provider)
        ClusterAddons(
            "cluster-addons",
            ClusterAddonsArgs(
                cluster_name=compute.eks_cluster.name,
                oidc_provider=compute.oidc_provider,
                k8s_provider=compute.k8s_provider,
                node_groups=compute.node_groups,
                permissions_boundary_arn=iam.boundary_arn,
                account_id=account_id,
            ),
            env,
            opts,
        )
    observability = Observability(
        "observability",
        ObservabilityArgs(
            account_id=account_id,
            vpc_id=network.vpc.id,
            vpc_cidr=env.network.cidr,
            app_subnet_ids=app_subnet_ids,
            ebs_key_arn=kms.arn("ebs"),
            s3_key_arn=kms.arn("s3"),
            logs_key_arn=kms.arn("logs"),
            permissions_boundary_arn=iam.boundary_arn,
            access_logs_bucket=audit_logging.access_logs.id,
            access_logs_policy=audit_logging.access_logs_policy,
            replicate=audit_logging.replicated(
                "es-snapshots",
                SNAPSHOT_BUCKET_PURPOSE,
                kms.arn("s3"),
                expire_noncurrent_days=env.logging.eck.snapshot_noncurrent_days,
            )
            if env.logging.eck is not None
            else None,
            services_namespace=env.kubernetes.namespace if env.kubernetes is not None else "wallet",
            cluster_name=compute.eks_cluster.name if compute.eks_cluster is not None else None,
            oidc_provider=compute.oidc_provider,
            k8s_provider=compute.k8s_provider,
            node_groups=compute.node_groups,
            tls=tls,
        ),
        env,
        opts,
    )
    Workloads(
        "workloads",
        WorkloadsArgs(
            account_id=account_id,
            vpc_cidr=env.network.cidr,
            data_subnet_cidrs=carve_subnets(env.network.cidr, env.network.az_count)["data"],
            app_subnet_ids=app_subnet_ids,
            app_security_group_id=network.app_sg.id,
            secrets_key_arn=kms.arn("secrets"),
            logs_key_arn=kms.arn("logs"),
            db_resource_id=data.db.resource_id,
            db_address=data.db.address,
            master_secret_arn=data.db.master_user_secrets[0].secret_arn,
            cache_urls=data.cache_urls,
            cache_user_ids=data.cache_user_ids,
            cache_name=data.cache_name,
            target_group_arns={name: group.arn for name, group in gateway.target_groups.items()},
            tls=tls,
            permissions_boundary_arn=iam.boundary_arn,
            oidc_provider=compute.oidc_provider,
            k8s_provider=compute.k8s_provider,
            ecs_cluster=compute.ecs_cluster,
            apm_server_url=apm_server_url(env),
            apm_secret_token=observability.apm_secret_token,
            apm_token_secret=APM_TOKEN_SECRET,
            apm_token_key=APM_TOKEN_KEY,
        ),
        env,
        opts,
    )
    if env.ci.runner:
        runner = CiRunner(
            "ci-runner",
            CiRunnerArgs(
                vpc_id=network.vpc.id,
                app_subnet_ids=app_subnet_ids,
                cluster_security_group_id=compute.eks_cluster.vpc_config.cluster_security_group_id
                if compute.eks_cluster is not None
                else None,
                logs_key_arn=kms.arn("logs"),
                s3_key_arn=kms.arn("s3"),
                account_id=account_id,
                permissions_boundary_arn=iam.boundary_arn,
            ),
            env,
            opts,
        )
        pulumi.export("ci_runner_label", runner_label(runner.project_name))
    if env.account.baseline:
        AccountBaseline(
            "baseline",
            BaselineArgs(
                account_id=account_id,
                trail_key_arn=kms.arn("trail"),
                logs_key_arn=kms.arn("logs"),
                permissions_boundary_arn=iam.boundary_arn,
                access_logs_bucket=audit_logging.access_logs.id,
                replicate=audit_logging.replicated(
                    "trail-bucket",
                    "cloudtrail",
                    kms.arn("trail"),
                    expire_noncurrent_days=env.logging.audit_retention_days,
                ),
            ),
            env,
            opts,
        )
    budgets = Budgets(
        "budgets",
        BudgetsArgs(
            monthly_estimate_usd=monthly_estimate(project_dir, env.name), kms_key_arn=kms.arn("notifications")
        ),
        env,
        opts,
    )
    Alarms(
        "alarms",
        AlarmsArgs(
            topic_arn=budgets.topic.arn,
            db_identifier=data.db.identifier,
            cache_group_id=data.cache.replication_group_id,
            nlb_arn=gateway.nlb.arn,
            target_group_arns={name: group.arn for name, group in gateway.target_groups.items()},
            api_name=gateway.api.name,
            stage_name=gateway.stage.stage_name,
            web_acl_name=gateway.name("waf"),
        ),
        env,
        opts,
    )
    build_loadtest_cluster(
        env, provider=compute.k8s_provider, gateway_url=gateway.stage.invoke_url, parent_opts=opts
    )

    pulumi.export("environment", env.name)
    pulumi.export("vpc_id", network.vpc.id)
    pulumi.export("api_url", gateway.stage.invoke_url)
    pulumi.export("ci_deploy_role_arn", iam.deploy_role.arn)
    pulumi.export("ledger_endpoint", data.db.address)
    pulumi.export("services", [workload.name for workload in workloads])
    pulumi.export("observability", observability.outputs)
    if observability.elastic_password is not None:
        pulumi.export("elastic_password", observability.elastic_password)
