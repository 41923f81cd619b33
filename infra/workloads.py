"""Workloads: each service with its own role, secret, network policy and autoscaling.

On EKS (pulumi-kubernetes): a restricted namespace with a default-deny NetworkPolicy, and per
service a ServiceAccount bound to an IRSA role, a Deployment (non-root, read-only root filesystem,
no privilege escalation, requests/limits, probes), a NodePort Service behind the internal NLB, an
HPA, a PodDisruptionBudget and NetworkPolicies allowing only what the service needs. On ECS
Fargate: a task role, a task definition, a service in private subnets and target-tracking
autoscaling. Exchange credentials live in Secrets Manager; the values are put there by operators.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from contracts.config import ComputeEngine, EnvironmentConfig
from infra.common import WalletComponent, policy_json
from infra.services import CONTAINER_PORT, Workload, workloads_of

APP_UID = 10001
PRIVATE_RANGES: list[str] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]
FARGATE_CPU_MEMORY: dict[int, list[int]] = {
    256: [512, 1024, 2048],
    512: [1024, 2048, 3072, 4096],
    1024: [2048, 3072, 4096, 5120, 6144, 7168, 8192],
    2048: [4096 + 1024 * step for step in range(13)],
    4096: [8192 + 1024 * step for step in range(23)],
}


def fargate_size(cpu_millicores: int, memory_mib: int) -> tuple[int, int]:
    """The smallest valid Fargate (cpu units, memory MiB) pair covering the requested size."""
    for cpu, memories in FARGATE_CPU_MEMORY.items():
        if cpu * 1000 // 1024 < cpu_millicores:
            continue
        for memory in memories:
            if memory >= memory_mib:
                return cpu, memory
    raise ValueError(f"no Fargate size fits {cpu_millicores}m CPU and {memory_mib} MiB")


@dataclass
class WorkloadsArgs:
    """Everything the services need from the other components."""

    account_id: pulumi.Input[str]
    vpc_cidr: str
    data_subnet_cidrs: list[str]
    app_subnet_ids: list[pulumi.Output[str]]
    app_security_group_id: pulumi.Input[str]
    secrets_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]
    db_resource_id: pulumi.Input[str]
    db_address: pulumi.Input[str]
    cache_address: pulumi.Input[str]
    cache_auth_secret_arn: pulumi.Input[str]
    target_group_arns: dict[str, pulumi.Output[str]]
    internal_lb_dns: pulumi.Input[str]
    oidc_provider: aws.iam.OpenIdConnectProvider | None = None
    k8s_provider: k8s.Provider | None = None
    ecs_cluster: aws.ecs.Cluster | None = None


class Workloads(WalletComponent):
    """All services of the environment on the selected compute engine."""

    component = "workloads"

    def __init__(
        self,
        name: str,
        args: WorkloadsArgs,
        env: EnvironmentConfig,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("workloads:Workloads", name, env, opts)
        self.args = args
        self.roles: dict[str, aws.iam.Role] = {}
        self.secrets: dict[str, aws.secretsmanager.Secret] = {}
        items = workloads_of(env)
        self.namespace: k8s.core.v1.Namespace | None = None
        if env.compute_engine is ComputeEngine.eks:
            self._namespace()
        for workload in items:
            secret = self._secret(workload)
            if env.compute_engine is ComputeEngine.eks:
                role = self._irsa_role(workload)
                self._role_policy(workload, role, secret)
                self._kubernetes(workload, role)
            else:
                role = self._ecs_role(workload, "task")
                self._role_policy(workload, role, secret)
                self._ecs_service(workload, role, secret)
            self.roles[workload.name] = role
        self.register_outputs({name: role.arn for name, role in self.roles.items()})

    def _secret(self, workload: Workload) -> aws.secretsmanager.Secret | None:
        if not workload.secret_keys:
            return None
        secret = aws.secretsmanager.Secret(
            self.name(workload.name, "credentials"),
            name=f"walletops/{self.env.name}/{workload.name}/credentials",
            description=f"{workload.name} API credentials: JSON with keys {', '.join(workload.secret_keys)}",
            kms_key_id=self.args.secrets_key_arn,
            recovery_window_in_days=7 if self.env.is_production else 0,
            tags=self.tags(service=workload.name, data_classification="restricted"),
            opts=self.child_opts(stateful=True),
        )
        self.secrets[workload.name] = secret
        return secret

    def _irsa_role(self, workload: Workload) -> aws.iam.Role:
        provider = self.args.oidc_provider
        assert provider is not None
        subject = f"system:serviceaccount:{self._namespace_name}:{workload.name}"
        trust = pulumi.Output.all(provider.arn, provider.url).apply(
            lambda parts: policy_json(
                [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": parts[0]},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {
                            "StringEquals": {
                                f"{parts[1].removeprefix('https://')}:sub": subject,
                                f"{parts[1].removeprefix('https://')}:aud": "sts.amazonaws.com",
                            }
                        },
                    }
                ]
            )
        )
        return aws.iam.Role(
            self.name(workload.name, "irsa"),
            name=self.name(workload.name, "irsa"),
            assume_role_policy=trust,
            tags=self.tags(service=workload.name),
            opts=self.child_opts(),
        )

    def _ecs_role(self, workload: Workload, kind: str) -> aws.iam.Role:
        return aws.iam.Role(
            self.name(workload.name, kind),
            name=self.name(workload.name, kind),
            assume_role_policy=pulumi.Output.from_input(self.args.account_id).apply(
                lambda account: policy_json(
                    [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                        }
                    ]
                )
            ),
            tags=self.tags(service=workload.name),
            opts=self.child_opts(),
        )

    def _role_policy(
        self, workload: Workload, role: aws.iam.Role, secret: aws.secretsmanager.Secret | None
    ) -> None:
        """Least privilege: its own secret, the cache token, and IAM login to its own DB user."""
        args = self.args
        region = self.env.region
        inputs: list[Any] = [
            args.account_id,
            args.db_resource_id,
            args.cache_auth_secret_arn,
            args.secrets_key_arn,
            secret.arn if secret else "",
        ]

        def document(values: list[Any]) -> str:
            account, db_resource, cache_secret, secrets_key, own_secret = values
            readable = [arn for arn in (own_secret, cache_secret if workload.uses_cache else "") if arn]
            statements: list[dict[str, Any]] = []
            if readable:
                statements.append(
                    {
                        "Sid": "ReadOwnSecrets",
                        "Effect": "Allow",
                        "Action": "secretsmanager:GetSecretValue",
                        "Resource": readable,
                    }
                )
                statements.append(
                    {
                        "Sid": "DecryptSecretsViaSecretsManager",
                        "Effect": "Allow",
                        "Action": "kms:Decrypt",
                        "Resource": secrets_key,
                        "Condition": {
                            "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
                        },
                    }
                )
            if workload.uses_database:
                statements.append(
                    {
                        "Sid": "LedgerIamLogin",
                        "Effect": "Allow",
                        "Action": "rds-db:connect",
                        "Resource": f"arn:aws:rds-db:{region}:{account}:dbuser:{db_resource}/"
                        f"{_db_user(workload)}",
                    }
                )
            return policy_json(statements)

        aws.iam.RolePolicy(
            self.name(workload.name, "permissions"),
            role=role.id,
            policy=pulumi.Output.all(*inputs).apply(document),
            opts=self.child_opts(),
        )

    @property
    def _namespace_name(self) -> str:
        assert self.env.kubernetes is not None
        return self.env.kubernetes.namespace

    def _k8s_opts(self, depends_on: list[pulumi.Resource] | None = None) -> pulumi.ResourceOptions:
        return self.child_opts(provider=self.args.k8s_provider, depends_on=depends_on)

    def _namespace(self) -> None:
        name = self._namespace_name
        self.namespace = k8s.core.v1.Namespace(
            self.name("namespace"),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                labels={
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                    **_labels(self.tags()),
                },
            ),
            opts=self._k8s_opts(),
        )
        k8s.networking.v1.NetworkPolicy(
            self.name("default-deny"),
            metadata=self._meta("default-deny"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(), policy_types=["Ingress", "Egress"]
            ),
            opts=self._k8s_opts([self.namespace]),
        )
        k8s.networking.v1.NetworkPolicy(
            self.name("allow-dns"),
            metadata=self._meta("allow-dns"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": "kube-system"}
                                ),
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"k8s-app": "kube-dns"}
                                ),
                            )
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol=protocol)
                            for protocol in ("UDP", "TCP")
                        ],
                    )
                ],
            ),
            opts=self._k8s_opts([self.namespace]),
        )

    def _meta(self, name: str, service: str = "platform") -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name, namespace=self._namespace_name, labels=_labels(self.tags(service=service))
        )

    def _kubernetes(self, workload: Workload, role: aws.iam.Role) -> None:
        name = workload.name
        cfg = workload.config
        selector = {"app.kubernetes.io/name": name}
        deps: list[pulumi.Resource] = [self.namespace] if self.namespace else []
        account = k8s.core.v1.ServiceAccount(
            self.name(name, "sa"),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=self._namespace_name,
                labels=_labels(self.tags(service=name)),
                annotations={"eks.amazonaws.com/role-arn": role.arn},
            ),
            automount_service_account_token=False,
            opts=self._k8s_opts(deps),
        )
        container = k8s.core.v1.ContainerArgs(
            name=name,
            image=cfg.image,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=CONTAINER_PORT)],
            env=[
                k8s.core.v1.EnvVarArgs(name=key, value=value)
                for key, value in self._service_env(workload).items()
            ],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": f"{cfg.cpu_millicores}m", "memory": f"{cfg.memory_mib}Mi"},
                limits={"cpu": f"{cfg.cpu_millicores * 2}m", "memory": f"{cfg.memory_mib}Mi"},
            ),
            security_context=restricted_container_context(),
            liveness_probe=_probe("/healthz", period=10),
            readiness_probe=_probe("/readyz", period=5),
            startup_probe=_probe("/healthz", period=2, failures=30),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")  # noqa: S108 (an emptyDir in the pod)
            ],
        )
        k8s.apps.v1.Deployment(
            self.name(name, "deployment"),
            metadata=self._meta(name, name),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=cfg.min_replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**selector, **_labels(self.tags(service=name))}
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=name,
                        automount_service_account_token=False,
                        host_network=False,
                        host_pid=False,
                        host_ipc=False,
                        security_context=restricted_pod_context(),
                        containers=[container],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi")
                            )
                        ],
                        topology_spread_constraints=[
                            k8s.core.v1.TopologySpreadConstraintArgs(
                                max_skew=1,
                                topology_key="topology.kubernetes.io/zone",
                                when_unsatisfiable="ScheduleAnyway",
                                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                            )
                        ],
                    ),
                ),
            ),
            opts=self.child_opts(
                provider=self.args.k8s_provider, depends_on=[account], ignore_changes=["spec.replicas"]
            ),
        )
        k8s.core.v1.Service(
            self.name(name, "service"),
            metadata=self._meta(name, name),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="NodePort",
                selector=selector,
                external_traffic_policy="Cluster",
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="http", port=80, target_port="http", node_port=workload.port, protocol="TCP"
                    )
                ],
            ),
            opts=self._k8s_opts(deps),
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            self.name(name, "hpa"),
            metadata=self._meta(name, name),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=name
                ),
                min_replicas=cfg.min_replicas,
                max_replicas=cfg.max_replicas,
                metrics=[
                    k8s.autoscaling.v2.MetricSpecArgs(
                        type="Resource",
                        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                            name="cpu",
                            target=k8s.autoscaling.v2.MetricTargetArgs(
                                type="Utilization", average_utilization=cfg.target_cpu_percent
                            ),
                        ),
                    )
                ],
            ),
            opts=self._k8s_opts(deps),
        )
        k8s.policy.v1.PodDisruptionBudget(
            self.name(name, "pdb"),
            metadata=self._meta(name, name),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)
            ),
            opts=self._k8s_opts(deps),
        )
        k8s.networking.v1.NetworkPolicy(
            self.name(name, "netpol"),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{name}-allow",
                namespace=self._namespace_name,
                labels=_labels(self.tags(service=name)),
                annotations={"walletops.io/egress-hosts": ",".join(workload.egress_hosts)}
                if workload.egress_hosts
                else None,
            ),
            spec=self._network_policy(workload, selector),
            opts=self._k8s_opts(deps),
        )

    def _network_policy(
        self, workload: Workload, selector: dict[str, str]
    ) -> k8s.networking.v1.NetworkPolicySpecArgs:
        """Ingress from the VPC (NLB via node ports) and from callers; egress only where needed."""
        np = k8s.networking.v1
        http = [np.NetworkPolicyPortArgs(port=CONTAINER_PORT, protocol="TCP")]
        callers = [w.name for w in workloads_of(self.env) if workload.name in w.calls]
        ingress = [
            np.NetworkPolicyIngressRuleArgs(
                from_=[np.NetworkPolicyPeerArgs(ip_block=np.IPBlockArgs(cidr=self.args.vpc_cidr))], ports=http
            )
        ]
        if callers:
            ingress.append(
                np.NetworkPolicyIngressRuleArgs(
                    from_=[
                        np.NetworkPolicyPeerArgs(
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={"app.kubernetes.io/name": caller}
                            )
                        )
                        for caller in callers
                    ],
                    ports=http,
                )
            )
        egress = [
            np.NetworkPolicyEgressRuleArgs(
                to=[np.NetworkPolicyPeerArgs(ip_block=np.IPBlockArgs(cidr=self.args.vpc_cidr))],
                ports=[np.NetworkPolicyPortArgs(port=443, protocol="TCP")],
            )
        ]
        data_ports = [
            port for port, used in ((5432, workload.uses_database), (6379, workload.uses_cache)) if used
        ]
        if data_ports:
            egress.append(
                np.NetworkPolicyEgressRuleArgs(
                    to=[
                        np.NetworkPolicyPeerArgs(ip_block=np.IPBlockArgs(cidr=cidr))
                        for cidr in self.args.data_subnet_cidrs
                    ],
                    ports=[np.NetworkPolicyPortArgs(port=port, protocol="TCP") for port in data_ports],
                )
            )
        if workload.calls:
            egress.append(
                np.NetworkPolicyEgressRuleArgs(
                    to=[
                        np.NetworkPolicyPeerArgs(
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={"app.kubernetes.io/name": callee}
                            )
                        )
                        for callee in workload.calls
                    ],
                    ports=http,
                )
            )
        if workload.egress_hosts:
            egress.append(
                np.NetworkPolicyEgressRuleArgs(
                    to=[
                        np.NetworkPolicyPeerArgs(
                            ip_block=np.IPBlockArgs(cidr="0.0.0.0/0", except_=PRIVATE_RANGES)
                        )
                    ],
                    ports=[np.NetworkPolicyPortArgs(port=443, protocol="TCP")],
                )
            )
        return np.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            policy_types=["Ingress", "Egress"],
            ingress=ingress,
            egress=egress,
        )

    def _service_env(self, workload: Workload) -> dict[str, pulumi.Input[str]]:
        env: dict[str, pulumi.Input[str]] = {
            "WALLETOPS_SERVICE": workload.name,
            "WALLETOPS_ENV": self.env.name,
            "WALLETOPS_PORT": str(CONTAINER_PORT),
            "AWS_REGION": self.env.region,
        }
        if workload.uses_database:
            env["DATABASE_HOST"] = self.args.db_address
            env["DATABASE_USER"] = _db_user(workload)
            env["DATABASE_AUTH"] = "iam"
        if workload.uses_cache:
            env["CACHE_HOST"] = self.args.cache_address
            env["CACHE_AUTH_SECRET_ARN"] = self.args.cache_auth_secret_arn
        if workload.secret_keys and workload.name in self.secrets:
            env["CREDENTIALS_SECRET_ARN"] = self.secrets[workload.name].arn
        ports = {item.name: item.port for item in workloads_of(self.env)}
        for callee in workload.calls:
            env[f"{callee.upper().replace('-', '_')}_URL"] = self._service_url(callee, ports[callee])
        return env

    def _service_url(self, name: str, port: int) -> pulumi.Input[str]:
        """How one service reaches another: cluster DNS on EKS, the internal NLB listener on ECS."""
        if self.env.kubernetes is not None:
            return f"http://{name}.{self.env.kubernetes.namespace}.svc.cluster.local"
        return pulumi.Output.concat("http://", self.args.internal_lb_dns, f":{port}")

    def _ecs_service(
        self, workload: Workload, task_role: aws.iam.Role, secret: aws.secretsmanager.Secret | None
    ) -> None:
        args = self.args
        cluster = args.ecs_cluster
        assert cluster is not None
        name = workload.name
        cfg = workload.config
        cpu, memory = fargate_size(cfg.cpu_millicores, cfg.memory_mib)
        log_group = aws.cloudwatch.LogGroup(
            self.name(name, "logs"),
            name=f"/walletops/{self.env.name}/{name}",
            retention_in_days=self.env.logging.audit_retention_days,
            kms_key_id=args.logs_key_arn,
            tags={**self.tags(service=name), "log-class": "financial"},
            opts=self.child_opts(stateful=True),
        )
        execution_role = self._ecs_role(workload, "execution")
        aws.iam.RolePolicyAttachment(
            self.name(name, "execution-policy"),
            role=execution_role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
            opts=self.child_opts(),
        )
        env_vars = self._service_env(workload)
        definition = pulumi.Output.all(log_group.name, pulumi.Output.from_input(env_vars)).apply(
            lambda parts: json.dumps(
                [
                    {
                        "name": name,
                        "image": cfg.image,
                        "essential": True,
                        "user": f"{APP_UID}:{APP_UID}",
                        "readonlyRootFilesystem": True,
                        "privileged": False,
                        "linuxParameters": {"capabilities": {"drop": ["ALL"]}, "initProcessEnabled": True},
                        "portMappings": [{"containerPort": CONTAINER_PORT, "protocol": "tcp"}],
                        "environment": [{"name": k, "value": v} for k, v in sorted(parts[1].items())],
                        "healthCheck": {
                            "command": [
                                "CMD",
                                "python",
                                "-c",
                                f"import urllib.request;urllib.request.urlopen('http://127.0.0.1:{CONTAINER_PORT}/healthz')",
                            ],
                            "interval": 15,
                            "timeout": 5,
                            "retries": 3,
                            "startPeriod": 20,
                        },
                        "logConfiguration": {
                            "logDriver": "awslogs",
                            "options": {
                                "awslogs-group": parts[0],
                                "awslogs-region": self.env.region,
                                "awslogs-stream-prefix": name,
                            },
                        },
                        "mountPoints": [
                            {
                                "sourceVolume": "tmp",
                                "containerPath": "/tmp",  # noqa: S108 (a task volume)
                                "readOnly": False,
                            }
                        ],
                    }
                ],
                sort_keys=True,
            )
        )
        task = aws.ecs.TaskDefinition(
            self.name(name, "task"),
            family=self.name(name),
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu=str(cpu),
            memory=str(memory),
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture="X86_64"
            ),
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name="tmp")],
            container_definitions=definition,
            tags=self.tags(service=name),
            opts=self.child_opts(),
        )
        service = aws.ecs.Service(
            self.name(name, "service"),
            name=name,
            cluster=cluster.arn,
            task_definition=task.arn,
            desired_count=cfg.min_replicas,
            launch_type="FARGATE",
            platform_version="LATEST",
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.app_subnet_ids,
                security_groups=[args.app_security_group_id],
                assign_public_ip=False,
            ),
            load_balancers=[
                aws.ecs.ServiceLoadBalancerArgs(
                    target_group_arn=args.target_group_arns[name],
                    container_name=name,
                    container_port=CONTAINER_PORT,
                )
            ],
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(
                enable=True, rollback=True
            ),
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            enable_execute_command=False,
            propagate_tags="SERVICE",
            tags=self.tags(service=name),
            opts=self.child_opts(ignore_changes=["desiredCount"]),
        )
        target = aws.appautoscaling.Target(
            self.name(name, "scaling-target"),
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", cluster.name, "/", service.name),
            min_capacity=cfg.min_replicas,
            max_capacity=cfg.max_replicas,
            tags=self.tags(service=name),
            opts=self.child_opts(),
        )
        aws.appautoscaling.Policy(
            self.name(name, "scaling-cpu"),
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=cfg.target_cpu_percent,
                predefined_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="ECSServiceAverageCPUUtilization"
                ),
                scale_in_cooldown=120,
                scale_out_cooldown=30,
            ),
            opts=self.child_opts(),
        )


def restricted_container_context() -> k8s.core.v1.SecurityContextArgs:
    """The container side of the pod-security "restricted" profile, as every walletops pod runs."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        privileged=False,
        read_only_root_filesystem=True,
        run_as_non_root=True,
        run_as_user=APP_UID,
        run_as_group=APP_UID,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def restricted_pod_context() -> k8s.core.v1.PodSecurityContextArgs:
    """The pod side of the "restricted" profile: a fixed non-root user, group and volume group."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=APP_UID,
        run_as_group=APP_UID,
        fs_group=APP_UID,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def _db_user(workload: Workload) -> str:
    return workload.name.replace("-", "_")


def _labels(tags: dict[str, str]) -> dict[str, str]:
    """Standard tags as Kubernetes labels (``walletops.io/<key>``)."""
    return {f"walletops.io/{key}": value for key, value in tags.items()}


def _probe(path: str, *, period: int, failures: int = 3) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http"),
        period_seconds=period,
        timeout_seconds=2,
        failure_threshold=failures,
    )
