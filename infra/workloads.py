"""Workloads: each service with its own role, secret, network policy and autoscaling.

On EKS (pulumi-kubernetes): a restricted namespace with a default-deny NetworkPolicy, the ledger's
DB bootstrap Job, and per service a ServiceAccount bound to an IRSA role, a Deployment (non-root,
read-only root filesystem, no privilege escalation, requests/limits, probes, spread over zones,
SPOT nodes only where config allows), a NodePort Service behind the internal NLB, an HPA, a
PodDisruptionBudget and NetworkPolicies allowing only what the service needs. On ECS Fargate: a
task role, a task definition, a service in private subnets and target-tracking autoscaling.

The containers get exactly the ``WALLETSTUB_*`` variables the images read (:func:`service_env`,
checked against the services' code by a contract test): the database over IAM authentication, the
cache URL from the service's own secret (a Kubernetes Secret / an ECS secret), exchange
credentials as a 0600 file written by an init container from Secrets Manager, where operators put
the values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from contracts.config import SPOT_TAINT_KEY, ComputeEngine, ElasticMode, EnvironmentConfig, ExchangeConfig
from infra import db_bootstrap
from infra.common import WalletComponent, policy_json
from infra.iam import irsa_trust
from infra.services import CONTAINER_PORT, Workload, workloads_of
from infra.transit import TransitTls

APP_UID = 10001
ENV_PREFIX = "WALLETSTUB_"
LEDGER_DATABASE = "ledger"
POSTGRES_PORT = 5432
SECRETS_MOUNT = "/run/walletops"
TLS_MOUNT = "/run/walletops-tls"
APM_TOKEN_MOUNT = "/run/walletops-apm"  # noqa: S105 (a mount path)
APM_TOKEN_FILE = f"{APM_TOKEN_MOUNT}/secret-token"
CREDENTIALS_FILE = f"{SECRETS_MOUNT}/credentials.json"
MASTER_SECRET_FILE = f"{SECRETS_MOUNT}/master.json"
BOOTSTRAP_MOUNT = "/etc/walletops"
BOOTSTRAP_SCRIPT = Path(db_bootstrap.__file__)
FETCH_TO_FILE = (
    'umask 077 && aws secretsmanager get-secret-value --secret-id "$SECRET_ARN" '
    '--query SecretString --output text > "$TARGET_FILE"'
)
"""Init-container script: the secret's JSON into a file only the app user may read (mode 0600)."""
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
    master_secret_arn: pulumi.Input[str]
    cache_urls: dict[str, pulumi.Output[str]]
    """Each cache user's ``rediss://<user>@host`` (no password: IAM authentication)."""
    cache_user_ids: dict[str, str]
    """Each cache user's id (== its name): what the service may ``elasticache:Connect`` as."""
    cache_name: str
    """The replication group: what a service may connect to, and the name its IAM token is signed for."""
    target_group_arns: dict[str, pulumi.Output[str]]
    tls: TransitTls
    permissions_boundary_arn: pulumi.Input[str]
    oidc_provider: aws.iam.OpenIdConnectProvider | None = None
    k8s_provider: k8s.Provider | None = None
    ecs_cluster: aws.ecs.Cluster | None = None
    apm_server_url: str | None = None
    """APM Server the services send traces to (``None``: APM off, e.g. with OpenSearch)."""
    apm_secret_token: pulumi.Output[str] | None = None
    """The APM token when the program owns it (ECK); else operators put it in ``apm_token_secret``."""
    apm_token_secret: str = "walletops-apm-token"  # noqa: S105 (a secret's name)
    apm_token_key: str = "secret-token"  # noqa: S105 (a key name)


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
        self.bootstrap: pulumi.Resource | None = None
        if env.compute_engine is ComputeEngine.eks:
            self._namespace()
            self.bootstrap = self._db_bootstrap_job(items)
        else:
            self.bootstrap = self._db_bootstrap_task(items)
        for workload in items:
            secret = self._secret(workload)
            if env.compute_engine is ComputeEngine.eks:
                role = self._irsa_role(workload.name, workload.name)
                self._role_policy(workload, role, secret)
                self._kubernetes(workload, role, secret)
            else:
                role = self._ecs_role(workload.name, "task")
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
            recovery_window_in_days=30 if self.env.is_production else 0,
            tags=self.tags(service=workload.name, data_classification="restricted"),
            opts=self.child_opts(),
        )
        self.secrets[workload.name] = secret
        return secret

    def _irsa_role(self, label: str, service_account: str) -> aws.iam.Role:
        provider = self.args.oidc_provider
        assert provider is not None
        trust = irsa_trust(provider, self._namespace_name, service_account)
        return aws.iam.Role(
            self.name(label, "irsa"),
            name=self.name(label, "irsa"),
            assume_role_policy=trust,
            permissions_boundary=self.args.permissions_boundary_arn,
            tags=self.tags(service=label),
            opts=self.child_opts(),
        )

    def _ecs_role(self, label: str, kind: str) -> aws.iam.Role:
        return aws.iam.Role(
            self.name(label, kind),
            name=self.name(label, kind),
            permissions_boundary=self.args.permissions_boundary_arn,
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
            tags=self.tags(service=label),
            opts=self.child_opts(),
        )

    def _role_policy(
        self, workload: Workload, role: aws.iam.Role, secret: aws.secretsmanager.Secret | None
    ) -> None:
        """Least privilege: its own credentials secret (read by its init container), IAM login as its
        own database user and as its own cache user."""
        args = self.args
        region = self.env.region
        uses_cache = workload.uses_cache
        inputs: list[Any] = [
            args.account_id,
            args.db_resource_id,
            args.secrets_key_arn,
            secret.arn if secret else "",
        ]

        def document(values: list[Any]) -> str:
            account, db_resource, secrets_key, own_secret = values
            readable = [own_secret] if own_secret else []
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
                        f"{db_user(workload.name)}",
                    }
                )
            if uses_cache:
                statements.append(
                    {
                        "Sid": "CacheIamLogin",
                        "Effect": "Allow",
                        "Action": "elasticache:Connect",
                        "Resource": [
                            f"arn:aws:elasticache:{region}:{account}:replicationgroup:{args.cache_name}",
                            f"arn:aws:elasticache:{region}:{account}:user:{args.cache_user_ids[workload.name]}",
                        ],
                    }
                )
            return policy_json(statements)

        if not (secret or workload.uses_database or uses_cache):
            return
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
        if self.args.apm_secret_token is not None:
            k8s.core.v1.Secret(
                self.name("apm-token-secret"),
                metadata=self._meta(self.args.apm_token_secret),
                type="Opaque",
                string_data={self.args.apm_token_key: self.args.apm_secret_token},
                opts=self._k8s_opts([self.namespace]),
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

    def _bootstrap_policy(self, role: aws.iam.Role) -> None:
        """The bootstrap reads the RDS master secret only (and decrypts it through Secrets Manager)."""
        aws.iam.RolePolicy(
            self.name("db-bootstrap", "permissions"),
            role=role.id,
            policy=pulumi.Output.all(self.args.master_secret_arn, self.args.secrets_key_arn).apply(
                lambda values: policy_json(
                    [
                        {
                            "Sid": "ReadLedgerMasterSecret",
                            "Effect": "Allow",
                            "Action": "secretsmanager:GetSecretValue",
                            "Resource": values[0],
                        },
                        {
                            "Sid": "DecryptViaSecretsManager",
                            "Effect": "Allow",
                            "Action": "kms:Decrypt",
                            "Resource": values[1],
                            "Condition": {
                                "StringEquals": {
                                    "kms:ViaService": f"secretsmanager.{self.env.region}.amazonaws.com"
                                }
                            },
                        },
                    ]
                )
            ),
            opts=self.child_opts(),
        )

    def _bootstrap_env(self, items: list[Workload]) -> dict[str, pulumi.Input[str]]:
        roles = sorted(db_user(workload.name) for workload in items if workload.uses_database)
        return {
            "DATABASE_HOST": self.args.db_address,
            "DATABASE_PORT": str(POSTGRES_PORT),
            "DATABASE_NAME": LEDGER_DATABASE,
            "BOOTSTRAP_ROLES": json.dumps(roles),
            "MASTER_SECRET_FILE": MASTER_SECRET_FILE,
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def _db_bootstrap_job(self, items: list[Workload]) -> k8s.batch.v1.Job:
        """The Job creating the services' ledger roles; every Deployment waits for it to complete."""
        role = self._irsa_role("db-bootstrap", "db-bootstrap")
        self._bootstrap_policy(role)
        deps: list[pulumi.Resource] = [self.namespace] if self.namespace else []
        labels = {"app.kubernetes.io/name": "db-bootstrap", **_labels(self.tags(service="db-bootstrap"))}
        account = k8s.core.v1.ServiceAccount(
            self.name("db-bootstrap", "sa"),
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name="db-bootstrap",
                namespace=self._namespace_name,
                labels=labels,
                annotations={"eks.amazonaws.com/role-arn": role.arn},
            ),
            automount_service_account_token=False,
            opts=self._k8s_opts(deps),
        )
        script = k8s.core.v1.ConfigMap(
            self.name("db-bootstrap", "script"),
            metadata=self._meta("db-bootstrap", "db-bootstrap"),
            data={"db_bootstrap.py": BOOTSTRAP_SCRIPT.read_text(encoding="utf-8")},
            opts=self._k8s_opts(deps),
        )
        policy = k8s.networking.v1.NetworkPolicy(
            self.name("db-bootstrap", "netpol"),
            metadata=self._meta("db-bootstrap-allow", "db-bootstrap"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"app.kubernetes.io/name": "db-bootstrap"}
                ),
                policy_types=["Ingress", "Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr)
                            )
                            for cidr in self.args.data_subnet_cidrs
                        ],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=POSTGRES_PORT, protocol="TCP")],
                    ),
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                ip_block=k8s.networking.v1.IPBlockArgs(cidr=self.args.vpc_cidr)
                            )
                        ],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=443, protocol="TCP")],
                    ),
                ],
            ),
            opts=self._k8s_opts(deps),
        )
        runner = k8s.core.v1.ContainerArgs(
            name="db-bootstrap",
            image=self.env.services.wallet.image,
            command=["python", f"{BOOTSTRAP_MOUNT}/db_bootstrap.py"],
            env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in self._bootstrap_env(items).items()],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "100m", "memory": "128Mi"}, limits={"cpu": "500m", "memory": "256Mi"}
            ),
            security_context=restricted_container_context(),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="script", mount_path=BOOTSTRAP_MOUNT, read_only=True),
                k8s.core.v1.VolumeMountArgs(name="secrets", mount_path=SECRETS_MOUNT, read_only=True),
            ],
        )
        return k8s.batch.v1.Job(
            self.name("db-bootstrap", "job"),
            metadata=self._meta("db-bootstrap", "db-bootstrap"),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=4,
                active_deadline_seconds=600,
                ttl_seconds_after_finished=86400,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name="db-bootstrap",
                        automount_service_account_token=False,
                        restart_policy="Never",
                        security_context=restricted_pod_context(),
                        init_containers=[
                            self._fetch_secret_container(self.args.master_secret_arn, MASTER_SECRET_FILE)
                        ],
                        containers=[runner],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="script",
                                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name="db-bootstrap"),
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="secrets",
                                empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                                    medium="Memory", size_limit="1Mi"
                                ),
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="16Mi")
                            ),
                        ],
                    ),
                ),
            ),
            opts=self.child_opts(
                provider=self.args.k8s_provider,
                depends_on=[account, script, policy],
                delete_before_replace=True,
            ),
        )

    def _db_bootstrap_task(self, items: list[Workload]) -> aws.ecs.TaskDefinition:
        """ECS: the same bootstrap as a task definition; the deploy pipeline runs it before rollout."""
        task_role = self._ecs_role("db-bootstrap", "task")
        self._bootstrap_policy(task_role)
        execution_role = self._ecs_role("db-bootstrap", "execution")
        aws.iam.RolePolicyAttachment(
            self.name("db-bootstrap", "execution-policy"),
            role=execution_role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
            opts=self.child_opts(),
        )
        log_group = aws.cloudwatch.LogGroup(
            self.name("db-bootstrap", "logs"),
            name=f"/walletops/{self.env.name}/db-bootstrap",
            retention_in_days=self.env.logging.audit_retention_days,
            kms_key_id=self.args.logs_key_arn,
            tags={**self.tags(service="db-bootstrap"), "log-class": "audit"},
            opts=self.child_opts(stateful=True),
        )
        script = BOOTSTRAP_SCRIPT.read_text(encoding="utf-8")

        def definitions(values: list[Any]) -> str:
            group, env, master_secret = values
            logs = {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": group,
                    "awslogs-region": self.env.region,
                    "awslogs-stream-prefix": "db-bootstrap",
                },
            }
            mounts = [{"sourceVolume": "secrets", "containerPath": SECRETS_MOUNT, "readOnly": False}]
            return json.dumps(
                [
                    {
                        "name": "fetch-secret",
                        "image": self.env.services.aws_cli_image,
                        "essential": False,
                        "user": "0:0",
                        "readonlyRootFilesystem": True,
                        "entryPoint": ["/bin/sh", "-c"],
                        "command": [f'{FETCH_TO_FILE} && chown {APP_UID}:{APP_UID} "$TARGET_FILE"'],
                        "environment": [
                            {"name": "SECRET_ARN", "value": master_secret},
                            {"name": "TARGET_FILE", "value": MASTER_SECRET_FILE},
                            {"name": "AWS_REGION", "value": self.env.region},
                            {"name": "HOME", "value": SECRETS_MOUNT},
                        ],
                        "mountPoints": mounts,
                        "logConfiguration": logs,
                    },
                    {
                        "name": "db-bootstrap",
                        "image": self.env.services.wallet.image,
                        "essential": True,
                        "user": f"{APP_UID}:{APP_UID}",
                        "readonlyRootFilesystem": True,
                        "linuxParameters": {"capabilities": {"drop": ["ALL"]}},
                        "entryPoint": ["python", "-c"],
                        "command": [script],
                        "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
                        "mountPoints": [{**mounts[0], "readOnly": True}],
                        "dependsOn": [{"containerName": "fetch-secret", "condition": "SUCCESS"}],
                        "logConfiguration": logs,
                    },
                ],
                sort_keys=True,
            )

        return aws.ecs.TaskDefinition(
            self.name("db-bootstrap", "task"),
            family=self.name("db-bootstrap"),
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu="256",
            memory="512",
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture="X86_64"
            ),
            volumes=[aws.ecs.TaskDefinitionVolumeArgs(name="secrets")],
            container_definitions=pulumi.Output.all(
                log_group.name,
                pulumi.Output.from_input(self._bootstrap_env(items)),
                self.args.master_secret_arn,
            ).apply(definitions),
            tags=self.tags(service="db-bootstrap"),
            opts=self.child_opts(),
        )

    def _meta(self, name: str, service: str = "platform") -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(
            name=name, namespace=self._namespace_name, labels=_labels(self.tags(service=service))
        )

    def _kubernetes(
        self, workload: Workload, role: aws.iam.Role, secret: aws.secretsmanager.Secret | None
    ) -> None:
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
        env_vars = [
            k8s.core.v1.EnvVarArgs(name=key, value=value)
            for key, value in self._service_env(workload).items()
        ]
        pod_deps: list[pulumi.Resource] = [account, *([self.bootstrap] if self.bootstrap else [])]
        mounts = [k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")]  # noqa: S108 (an emptyDir in the pod)
        volumes = [
            k8s.core.v1.VolumeArgs(
                name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi")
            )
        ]
        if self.args.apm_server_url is not None:
            # The token is a file from the secret, not an environment variable (environments leak
            # into crash reports and `kubectl describe`); optional where operators own the secret.
            env_vars.append(
                k8s.core.v1.EnvVarArgs(name=f"{ENV_PREFIX}APM_SECRET_TOKEN_FILE", value=APM_TOKEN_FILE)
            )
            mounts.append(
                k8s.core.v1.VolumeMountArgs(name="apm-token", mount_path=APM_TOKEN_MOUNT, read_only=True)
            )
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="apm-token",
                    secret=k8s.core.v1.SecretVolumeSourceArgs(
                        secret_name=self.args.apm_token_secret,
                        items=[
                            k8s.core.v1.KeyToPathArgs(
                                key=self.args.apm_token_key, path=APM_TOKEN_FILE.rsplit("/", 1)[-1]
                            )
                        ],
                        default_mode=0o440,
                        optional=self.args.apm_secret_token is None or None,
                    ),
                )
            )
        certificate = self._certificate(workload)
        pod_deps.append(certificate)
        mounts.append(k8s.core.v1.VolumeMountArgs(name="tls", mount_path=TLS_MOUNT, read_only=True))
        volumes.append(
            k8s.core.v1.VolumeArgs(
                name="tls",
                secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=f"{name}-tls", default_mode=0o440),
            )
        )
        init_containers = []
        if secret is not None:
            mounts.append(
                k8s.core.v1.VolumeMountArgs(name="secrets", mount_path=SECRETS_MOUNT, read_only=True)
            )
            volumes.append(
                k8s.core.v1.VolumeArgs(
                    name="secrets",
                    empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory", size_limit="1Mi"),
                )
            )
            init_containers.append(self._fetch_secret_container(secret.arn, CREDENTIALS_FILE))
        container = k8s.core.v1.ContainerArgs(
            name=name,
            image=cfg.image,
            ports=[k8s.core.v1.ContainerPortArgs(name="https", container_port=CONTAINER_PORT)],
            env=env_vars,
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": f"{cfg.cpu_millicores}m", "memory": f"{cfg.memory_mib}Mi"},
                limits={"cpu": f"{cfg.cpu_millicores * 2}m", "memory": f"{cfg.memory_mib}Mi"},
            ),
            security_context=restricted_container_context(),
            liveness_probe=_probe("/healthz", period=10),
            readiness_probe=_probe("/readyz", period=5),
            startup_probe=_probe("/healthz", period=2, failures=30),
            volume_mounts=mounts,
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
                        init_containers=init_containers or None,
                        containers=[container],
                        volumes=volumes,
                        tolerations=[spot_toleration()] if cfg.tolerate_spot else None,
                        topology_spread_constraints=self._spread(selector, cfg.min_replicas),
                    ),
                ),
            ),
            opts=self.child_opts(
                provider=self.args.k8s_provider, depends_on=pod_deps, ignore_changes=["spec.replicas"]
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
                        name="https", port=443, target_port="https", node_port=workload.port, protocol="TCP"
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
        egress.extend(self._apm_egress())
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

    def _apm_egress(self) -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]:
        """To the APM Server: ECK's pods (by namespace and label), or an external endpoint's port."""
        np = k8s.networking.v1
        url = self.args.apm_server_url
        if url is None:
            return []
        host, _, port = url.removeprefix("https://").rstrip("/").partition(":")
        if host.endswith(".svc"):
            _, namespace = host.removesuffix(".svc").rsplit(".", 1)
            return [
                np.NetworkPolicyEgressRuleArgs(
                    to=[
                        np.NetworkPolicyPeerArgs(
                            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={"kubernetes.io/metadata.name": namespace}
                            ),
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_expressions=[
                                    k8s.meta.v1.LabelSelectorRequirementArgs(
                                        key="apm.k8s.elastic.co/name", operator="Exists"
                                    )
                                ]
                            ),
                        )
                    ],
                    ports=[np.NetworkPolicyPortArgs(port=int(port or 443), protocol="TCP")],
                )
            ]
        return [
            np.NetworkPolicyEgressRuleArgs(
                to=[
                    np.NetworkPolicyPeerArgs(
                        ip_block=np.IPBlockArgs(cidr="0.0.0.0/0", except_=PRIVATE_RANGES)
                    )
                ],
                ports=[np.NetworkPolicyPortArgs(port=int(port or 443), protocol="TCP")],
            )
        ]

    def _service_env(self, workload: Workload) -> dict[str, pulumi.Input[str]]:
        """The ``WALLETSTUB_*`` variables of a service: none is a secret (database and cache use IAM)."""
        env: dict[str, pulumi.Input[str]] = {
            f"{ENV_PREFIX}SERVICE": workload.name,
            f"{ENV_PREFIX}HOST": "0.0.0.0",  # noqa: S104 (the pod/task network; policies and SGs front it)
            f"{ENV_PREFIX}PORT": str(CONTAINER_PORT),
            f"{ENV_PREFIX}CONTAINER": "1",
            f"{ENV_PREFIX}LOG_LEVEL": "INFO",
            f"{ENV_PREFIX}WORKERS": str(workload.config.workers),
            f"{ENV_PREFIX}ENVIRONMENT": self.env.name,
            f"{ENV_PREFIX}SERVICE_VERSION": image_version(workload.config.image),
            "AWS_REGION": self.env.region,
        }
        if self.args.apm_server_url is not None:
            env[f"{ENV_PREFIX}APM_SERVER_URL"] = self.args.apm_server_url
        if self.env.kubernetes is not None:
            env.update(
                {
                    f"{ENV_PREFIX}TLS_CERT_FILE": f"{TLS_MOUNT}/tls.crt",
                    f"{ENV_PREFIX}TLS_KEY_FILE": f"{TLS_MOUNT}/tls.key",
                    f"{ENV_PREFIX}TLS_CA_FILE": f"{TLS_MOUNT}/ca.crt",
                }
            )
            if self.env.logging.elastic is ElasticMode.eck and self.args.apm_server_url is not None:
                # ECK's APM Server holds a certificate of the platform CA (infra/observability.py);
                # an external APM Server keeps the agent's default (public) trust.
                env[f"{ENV_PREFIX}APM_CA_FILE"] = f"{TLS_MOUNT}/ca.crt"
        if workload.uses_cache:
            env[f"{ENV_PREFIX}CACHE_URL"] = self.args.cache_urls[workload.name]
            env[f"{ENV_PREFIX}CACHE_IAM_AUTH"] = "1"
            env[f"{ENV_PREFIX}CACHE_NAME"] = self.args.cache_name
        if workload.uses_database:
            env[f"{ENV_PREFIX}DATABASE_URL"] = pulumi.Output.concat(
                "postgresql+asyncpg://",
                db_user(workload.name),
                "@",
                self.args.db_address,
                f":{POSTGRES_PORT}/{LEDGER_DATABASE}?ssl=require",
            )
            env[f"{ENV_PREFIX}DATABASE_IAM_AUTH"] = "1"
        ports = {item.name: item.port for item in workloads_of(self.env)}
        if "wallet" in workload.calls:
            env[f"{ENV_PREFIX}WALLET_URL"] = self._service_url("wallet", ports["wallet"])
        exchanges = [callee for callee in workload.calls if callee.startswith("exchange-")]
        if exchanges:
            urls = {
                callee.removeprefix("exchange-"): self._service_url(callee, ports[callee])
                for callee in exchanges
            }
            env[f"{ENV_PREFIX}EXCHANGE_URLS"] = pulumi.Output.json_dumps(urls)
        if isinstance(workload.config, ExchangeConfig):
            exchange = workload.config
            env.update(
                {
                    f"{ENV_PREFIX}EXCHANGE_NAME": exchange.name,
                    f"{ENV_PREFIX}EXCHANGE_KIND": exchange.kind,
                    f"{ENV_PREFIX}EXCHANGE_BASE_URL": exchange.base_url,
                    f"{ENV_PREFIX}EXCHANGE_FEE_BPS": str(exchange.fee_bps),
                    f"{ENV_PREFIX}EXCHANGE_TIMEOUT_MS": str(exchange.timeout_ms),
                    f"{ENV_PREFIX}EXCHANGE_CREDENTIALS_FILE": CREDENTIALS_FILE,
                }
            )
        return env

    def _service_url(self, name: str, port: int) -> pulumi.Input[str]:
        """How one service reaches another over TLS: cluster DNS on EKS (a name in the callee's
        certificate), the internal NLB's TLS listener on ECS (the NLB's certificate)."""
        if self.env.kubernetes is not None:
            return f"https://{name}.{self.env.kubernetes.namespace}.svc.cluster.local"
        return f"https://{self.args.tls.nlb_host}:{port}"

    def _certificate(self, workload: Workload) -> k8s.apiextensions.CustomResource:
        """The pod's serving certificate (cert-manager, from the private CA), for its cluster DNS names:
        the NLB does not check it, in-cluster callers verify it against the CA."""
        name = workload.name
        namespace = self._namespace_name
        tls = self.args.tls
        hours = self.env.transit.pod_certificate_hours
        deps: list[pulumi.Resource] = [self.namespace] if self.namespace else []
        if tls.issuer is not None:
            deps.append(tls.issuer)
        return k8s.apiextensions.CustomResource(
            self.name(name, "certificate"),
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=self._meta(f"{name}-tls", name),
            spec={
                "secretName": f"{name}-tls",
                "commonName": f"{name}.{namespace}.svc",
                "dnsNames": [
                    name,
                    f"{name}.{namespace}",
                    f"{name}.{namespace}.svc",
                    f"{name}.{namespace}.svc.cluster.local",
                ],
                "duration": f"{hours}h",
                "renewBefore": f"{hours // 3}h",
                "privateKey": {"algorithm": "RSA", "size": 2048, "rotationPolicy": "Always"},
                "usages": ["server auth", "digital signature", "key encipherment"],
                "issuerRef": tls.issuer_ref(),
            },
            opts=self._k8s_opts(deps),
        )

    def _fetch_secret_container(
        self, secret_arn: pulumi.Input[str], target: str
    ) -> k8s.core.v1.ContainerArgs:
        """Init container writing a Secrets Manager secret to a memory volume, mode 0600 (pod's IRSA role)."""
        return k8s.core.v1.ContainerArgs(
            name="fetch-secret",
            image=self.env.services.aws_cli_image,
            command=["/bin/sh", "-c", FETCH_TO_FILE],
            env=[
                k8s.core.v1.EnvVarArgs(name="SECRET_ARN", value=secret_arn),
                k8s.core.v1.EnvVarArgs(name="TARGET_FILE", value=target),
                k8s.core.v1.EnvVarArgs(name="AWS_REGION", value=self.env.region),
                k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),  # noqa: S108 (an emptyDir in the pod)
            ],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "200m", "memory": "128Mi"}
            ),
            security_context=restricted_container_context(),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="secrets", mount_path=SECRETS_MOUNT),
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),  # noqa: S108 (an emptyDir)
            ],
        )

    def _spread(
        self, selector: dict[str, str], replicas: int
    ) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
        """Spread over zones (strictly once there is a replica per zone) and, softly, over nodes."""
        zones = len(self.env.zones)
        return [
            k8s.core.v1.TopologySpreadConstraintArgs(
                max_skew=1,
                topology_key="topology.kubernetes.io/zone",
                when_unsatisfiable="DoNotSchedule" if replicas >= zones else "ScheduleAnyway",
                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            ),
            k8s.core.v1.TopologySpreadConstraintArgs(
                max_skew=1,
                topology_key="kubernetes.io/hostname",
                when_unsatisfiable="ScheduleAnyway",
                label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            ),
        ]

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
            opts=self.child_opts(stateful=True, retain=workload.is_exchange),
        )
        execution_role = self._ecs_role(name, "execution")
        aws.iam.RolePolicyAttachment(
            self.name(name, "execution-policy"),
            role=execution_role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
            opts=self.child_opts(),
        )
        definition = pulumi.Output.all(
            log_group.name,
            pulumi.Output.from_input(self._service_env(workload)),
            secret.arn if secret else "",
        ).apply(lambda parts: json.dumps(self._container_definitions(workload, *parts), sort_keys=True))
        volumes = [aws.ecs.TaskDefinitionVolumeArgs(name="tmp")]
        if secret is not None:
            volumes.append(aws.ecs.TaskDefinitionVolumeArgs(name="secrets"))
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
            volumes=volumes,
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
            health_check_grace_period_seconds=60,
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

    def _container_definitions(
        self, workload: Workload, log_group: str, env: dict[str, str], credentials: str
    ) -> list[dict[str, Any]]:
        """The task's containers: the service, and (exchanges) the init container writing credentials."""
        name = workload.name
        logs = {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": self.env.region,
                "awslogs-stream-prefix": name,
            },
        }
        mounts: list[dict[str, Any]] = [
            {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}  # noqa: S108 (a task volume)
        ]
        containers: list[dict[str, Any]] = []
        depends: list[dict[str, str]] = []
        if credentials:
            mounts.append({"sourceVolume": "secrets", "containerPath": SECRETS_MOUNT, "readOnly": True})
            containers.append(
                {
                    "name": "fetch-secret",
                    "image": self.env.services.aws_cli_image,
                    "essential": False,
                    # Fargate volumes are root-owned: write as root, then hand the file to the app user.
                    "user": "0:0",
                    "readonlyRootFilesystem": True,
                    "privileged": False,
                    "entryPoint": ["/bin/sh", "-c"],
                    "command": [f'{FETCH_TO_FILE} && chown {APP_UID}:{APP_UID} "$TARGET_FILE"'],
                    "environment": [
                        {"name": "SECRET_ARN", "value": credentials},
                        {"name": "TARGET_FILE", "value": CREDENTIALS_FILE},
                        {"name": "AWS_REGION", "value": self.env.region},
                        {"name": "HOME", "value": "/tmp"},  # noqa: S108 (a task volume)
                    ],
                    "mountPoints": [
                        {"sourceVolume": "secrets", "containerPath": SECRETS_MOUNT, "readOnly": False},
                        {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False},  # noqa: S108
                    ],
                    "logConfiguration": logs,
                }
            )
            depends.append({"containerName": "fetch-secret", "condition": "SUCCESS"})
        service: dict[str, Any] = {
            "name": name,
            "image": workload.config.image,
            "essential": True,
            "user": f"{APP_UID}:{APP_UID}",
            "readonlyRootFilesystem": True,
            "privileged": False,
            "linuxParameters": {"capabilities": {"drop": ["ALL"]}, "initProcessEnabled": True},
            "portMappings": [{"containerPort": CONTAINER_PORT, "protocol": "tcp"}],
            "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
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
            "logConfiguration": logs,
            "mountPoints": mounts,
        }
        if depends:
            service["dependsOn"] = depends
        return [*containers, service]


def image_version(image: str) -> str:
    """What logs and APM call the running version: the image's tag, or for an image given by digest
    alone (as ``walletops pipeline deploy`` pins them) the digest's first 12 hex digits; an image with
    neither is Docker's ``latest``."""
    reference, _, digest = image.partition("@")
    name = reference.rsplit("/", 1)[-1]
    if ":" in name:
        return name.split(":", 1)[1]
    algorithm, _, value = digest.partition(":")
    return f"{algorithm}:{value[:12]}" if value else "latest"


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


def db_user(service: str) -> str:
    """The ledger role (and schema) of a service: its name as a PostgreSQL identifier."""
    return service.replace("-", "_")


def spot_toleration() -> k8s.core.v1.TolerationArgs:
    """Lets a pod run on the tainted SPOT node groups (only services with ``tolerate_spot``)."""
    return k8s.core.v1.TolerationArgs(key=SPOT_TAINT_KEY, operator="Exists", effect="NoSchedule")


def _labels(tags: dict[str, str]) -> dict[str, str]:
    """Standard tags as Kubernetes labels (``walletops.io/<key>``)."""
    return {f"walletops.io/{key}": value for key, value in tags.items()}


def _probe(path: str, *, period: int, failures: int = 3) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="https", scheme="HTTPS"),
        period_seconds=period,
        timeout_seconds=2,
        failure_threshold=failures,
    )
