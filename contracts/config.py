"""The environment model: ``Pulumi.<env>.yaml`` parsed into one strict, typed, validated object.

Every difference between dev, qa, stage and prod lives in those four files. This module is the
only reader of raw config: the Pulumi program, the planner, cost, policy and the load tests all
take an :class:`EnvironmentConfig`. A bad value is reported as one line per problem naming the
file, the key, the value and what is allowed (:class:`ConfigError`), never as a traceback.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contracts.documents import read_yaml
from contracts.errors import UsageProblem
from contracts.project import ENVIRONMENTS

NAMESPACE = "walletops"
SLUG = r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$"
HOSTNAME = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"


class ConfigError(UsageProblem):
    """One or more problems in an environment file; each line names file, key, value, allowed."""


class Strict(BaseModel):
    """Base for every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NatLayout(StrEnum):
    """``single``: one NAT gateway for the VPC (cheap, dev/qa); ``per-az``: one per AZ (HA)."""

    single = "single"
    per_az = "per-az"


class ComputeEngine(StrEnum):
    eks = "eks"
    ecs = "ecs"


class CapacityType(StrEnum):
    on_demand = "ON_DEMAND"
    spot = "SPOT"


class DataClassification(StrEnum):
    public = "public"
    internal = "internal"
    confidential = "confidential"
    restricted = "restricted"


class ElasticMode(StrEnum):
    """Where logs go: ECK on the cluster, an external Elastic endpoint, or Amazon OpenSearch Service."""

    eck = "eck"
    external = "external"
    opensearch = "opensearch"


class TagsConfig(Strict):
    """Values of the standard tags put on every taggable resource."""

    owner: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,62}$")]
    cost_center: Annotated[str, Field(pattern=r"^CC-[0-9]{3,6}$")]


class NetworkConfig(Strict):
    """VPC layout. Subnets are carved from ``cidr``: public, private-app and isolated-data per AZ.

    ``availability_zones`` are named explicitly: zone letters differ per account and region (a zone
    ``c`` may not exist, or may lack an instance type), so the program never guesses them.
    """

    cidr: str
    az_count: Annotated[int, Field(ge=2, le=3)]
    availability_zones: list[Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9][a-z]$")]]
    nat: NatLayout
    flow_log_retention_days: Annotated[int, Field(ge=90, le=3653)] = 365

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            net = ipaddress.IPv4Network(value)
        except ValueError as exc:
            raise ValueError(
                f"not an IPv4 CIDR ({exc}); allowed: a private /16 to /20, e.g. 10.20.0.0/16"
            ) from exc
        if not net.is_private or not 16 <= net.prefixlen <= 20:
            raise ValueError("allowed: a private (RFC 1918) block from /16 to /20")
        return value

    @model_validator(mode="after")
    def _zones(self) -> NetworkConfig:
        if len(set(self.availability_zones)) != len(self.availability_zones):
            raise ValueError(f"availability_zones must be distinct, got {self.availability_zones}")
        if len(self.availability_zones) != self.az_count:
            listed = len(self.availability_zones)
            raise ValueError(f"availability_zones lists {listed} zones but az_count is {self.az_count}")
        return self


SPOT_TAINT_KEY = "walletops.io/capacity"
"""Taint every SPOT node group carries; only workloads that opt in (``tolerate_spot``) tolerate it."""
AMI_TYPES: dict[str, str] = {"x86_64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}


def instance_architecture(instance_type: str) -> str:
    """``arm64`` for Graviton families (a ``g`` after the generation: m7g, c6gn, r8g), else ``x86_64``."""
    family = instance_type.split(".", 1)[0]
    match = re.match(r"^[a-z]+[0-9]+([a-z-]*)$", family)
    return "arm64" if match and "g" in match.group(1) else "x86_64"


class TaintConfig(Strict):
    """A Kubernetes taint put on every node of a group."""

    key: Annotated[str, Field(pattern=r"^([a-z0-9.-]+/)?[a-z0-9A-Z._-]{1,63}$")]
    value: Annotated[str, Field(pattern=r"^[a-zA-Z0-9._-]{0,63}$")] = ""
    effect: Literal["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"] = "NO_SCHEDULE"


class NodeGroupConfig(Strict):
    """An EKS managed node group in the private app subnets.

    The AMI follows the instance types' architecture (all types of a group must share one); SPOT
    groups must be tainted so that only workloads which tolerate interruption are placed there.
    """

    name: Annotated[str, Field(pattern=SLUG)]
    instance_types: Annotated[
        list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[0-9]*[a-z0-9]+$")]], Field(min_length=1)
    ]
    capacity_type: CapacityType = CapacityType.on_demand
    min_size: Annotated[int, Field(ge=1, le=100)]
    desired_size: Annotated[int, Field(ge=1, le=100)]
    max_size: Annotated[int, Field(ge=1, le=200)]
    disk_gb: Annotated[int, Field(ge=20, le=1000)] = 50
    taints: list[TaintConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sizes(self) -> NodeGroupConfig:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"sizes must satisfy min_size <= desired_size <= max_size, got "
                f"{self.min_size} <= {self.desired_size} <= {self.max_size}"
            )
        architectures = {instance_architecture(kind) for kind in self.instance_types}
        if len(architectures) > 1:
            raise ValueError(
                f"instance_types mix architectures ({', '.join(sorted(architectures))}); "
                "allowed: all x86_64 or all Graviton (arm64) in one group"
            )
        if self.capacity_type is CapacityType.spot and not any(
            taint.key == SPOT_TAINT_KEY and taint.effect == "NO_SCHEDULE" for taint in self.taints
        ):
            raise ValueError(
                f"a SPOT group needs the taint {{key: {SPOT_TAINT_KEY}, value: spot, effect: NO_SCHEDULE}} "
                "so that only workloads which tolerate interruption run there"
            )
        return self

    @property
    def architecture(self) -> str:
        return instance_architecture(self.instance_types[0])

    @property
    def ami_type(self) -> str:
        """The EKS AL2023 AMI type matching the instance types' architecture."""
        return AMI_TYPES[self.architecture]


ACCESS_POLICIES: dict[str, str] = {
    "cluster-admin": "AmazonEKSClusterAdminPolicy",
    "admin": "AmazonEKSAdminPolicy",
    "edit": "AmazonEKSEditPolicy",
    "view": "AmazonEKSViewPolicy",
}
"""Access levels a principal may get through an EKS access entry → the EKS access policy granting it."""
REQUIRED_ADDONS: tuple[str, ...] = (
    "vpc-cni",
    "coredns",
    "kube-proxy",
    "eks-pod-identity-agent",
    "metrics-server",
)
"""EKS add-ons every cluster runs; their versions are pinned in config (``kubernetes.addons``)."""
ROLE_NAME = r"^([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$"
IMAGE = r"^[a-z0-9./_-]+(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$"


class AccessConfig(Strict):
    """A person's IAM role in this environment's account and what it may do in the cluster.

    ``role`` is the role name with its path, if any (an IAM Identity Center permission-set role is
    ``aws-reserved/sso.amazonaws.com/<region>/AWSReservedSSO_<set>_<id>``); access entries accept
    the path, and the program adds the account id.
    """

    role: Annotated[str, Field(pattern=ROLE_NAME)]
    access: Literal["cluster-admin", "admin", "edit", "view"]
    namespaces: list[Annotated[str, Field(pattern=SLUG)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _scope(self) -> AccessConfig:
        if self.access == "cluster-admin" and self.namespaces:
            raise ValueError("cluster-admin is cluster-wide; remove namespaces or use access: admin")
        return self


class ClusterAutoscalerConfig(Strict):
    """The Cluster Autoscaler: its image (minor = the cluster's minor), scale-down behaviour."""

    image: Annotated[str, Field(pattern=IMAGE)]
    scale_down_unneeded_minutes: Annotated[int, Field(ge=1, le=120)] = 10
    expander: Literal["least-waste", "priority", "random", "most-pods", "price"] = "least-waste"


class KubernetesConfig(Strict):
    """EKS control plane and node groups (ignored fields are rejected when the engine is ECS).

    ``access`` lists the people's roles that get cluster access (the CI deploy role is added by the
    program); ``addons`` pins every managed add-on's version; node-group ``max_size`` bounds what
    the Cluster Autoscaler may add.
    """

    version: Annotated[str, Field(pattern=r"^1\.(3[0-9])$")]
    endpoint_public_access: bool
    public_access_cidrs: list[str] = Field(default_factory=list)
    node_groups: Annotated[list[NodeGroupConfig], Field(min_length=1)]
    namespace: Annotated[str, Field(pattern=SLUG)] = "wallet"
    access: Annotated[list[AccessConfig], Field(min_length=1)]
    addons: dict[str, Annotated[str, Field(pattern=r"^v[0-9]+\.[0-9]+\.[0-9]+-eksbuild\.[0-9]+$")]]
    oidc_thumbprint: Annotated[str, Field(pattern=r"^[a-f0-9]{40}$")]
    cluster_autoscaler: ClusterAutoscalerConfig

    @field_validator("public_access_cidrs")
    @classmethod
    def _cidrs(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                net = ipaddress.IPv4Network(value)
            except ValueError as exc:
                raise ValueError(f"{value!r} is not an IPv4 CIDR; allowed: e.g. 203.0.113.0/24") from exc
            if net.prefixlen == 0:
                raise ValueError("0.0.0.0/0 is not allowed; list your office or VPN ranges")
        return values

    @model_validator(mode="after")
    def _public(self) -> KubernetesConfig:
        if self.endpoint_public_access and not self.public_access_cidrs:
            raise ValueError(
                "endpoint_public_access needs public_access_cidrs (the ranges allowed to reach it)"
            )
        names = [group.name for group in self.node_groups]
        if len(set(names)) != len(names):
            raise ValueError(f"node group names must be unique, got {names}")
        missing = [addon for addon in REQUIRED_ADDONS if addon not in self.addons]
        if missing:
            raise ValueError(f"addons must pin a version for {', '.join(missing)}")
        unknown = sorted(set(self.addons) - set(REQUIRED_ADDONS))
        if unknown:
            raise ValueError(
                f"addons: unknown add-on {', '.join(unknown)}; allowed: {', '.join(REQUIRED_ADDONS)}"
            )
        principals = [entry.role for entry in self.access]
        if len(set(principals)) != len(principals):
            raise ValueError(
                "access: a principal may appear once (EKS allows one access entry per principal)"
            )
        if not any(entry.access == "cluster-admin" for entry in self.access):
            raise ValueError(
                "access needs at least one cluster-admin principal (a person's role), "
                "or nobody but CI can operate the cluster"
            )
        minor = self.version.split(".")[1]
        tag = self.cluster_autoscaler.image.split(":", 1)[-1]
        if not tag.startswith(f"v1.{minor}."):
            raise ValueError(
                f"cluster_autoscaler.image {self.cluster_autoscaler.image!r} must be v1.{minor}.x "
                f"(the Cluster Autoscaler minor follows the Kubernetes minor {self.version})"
            )
        return self


DAY_TIME = r"(mon|tue|wed|thu|fri|sat|sun):[0-2][0-9]:[0-5][0-9]"
WINDOW = rf"^{DAY_TIME}-{DAY_TIME}$"


class DatabaseConfig(Strict):
    """RDS PostgreSQL for the ledger.

    With ``auto_minor_version_upgrade`` (the default) ``engine_version`` names the major only: AWS
    upgrades the minor and a pinned minor would make every later deploy try to downgrade it.
    """

    instance_class: Annotated[str, Field(pattern=r"^db\.[a-z0-9]+\.[0-9]*[a-z]+$")]
    engine_version: Annotated[str, Field(pattern=r"^1[4-7](\.[0-9]+)?$")]
    auto_minor_version_upgrade: bool = True
    master_username: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{2,15}$")] = "ledger_admin"
    backup_window: Annotated[str, Field(pattern=r"^[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]$")] = (
        "02:00-03:00"
    )
    maintenance_window: Annotated[str, Field(pattern=WINDOW)] = "sun:03:30-sun:04:30"
    allocated_storage_gb: Annotated[int, Field(ge=20, le=65536)]
    max_allocated_storage_gb: Annotated[int, Field(ge=20, le=65536)]
    multi_az: bool
    backup_retention_days: Annotated[int, Field(ge=1, le=35)]
    deletion_protection: bool
    performance_insights: bool = True
    monitoring_interval_seconds: Literal[1, 5, 10, 15, 30, 60] = 60
    """Enhanced Monitoring (OS metrics of the instance): one of the intervals RDS accepts."""

    @model_validator(mode="after")
    def _storage(self) -> DatabaseConfig:
        if self.auto_minor_version_upgrade and "." in self.engine_version:
            raise ValueError(
                f"engine_version {self.engine_version!r} pins a minor while "
                "auto_minor_version_upgrade is on; "
                f"allowed: the major only ({self.engine_version.split('.')[0]!r}), or set "
                "auto_minor_version_upgrade: false"
            )
        if self.master_username in {"admin", "postgres", "rdsadmin", "root"}:
            raise ValueError(f"master_username {self.master_username!r} is reserved by RDS; choose another")
        if self.max_allocated_storage_gb < self.allocated_storage_gb:
            raise ValueError(
                f"max_allocated_storage_gb ({self.max_allocated_storage_gb}) must be >= "
                f"allocated_storage_gb ({self.allocated_storage_gb})"
            )
        return self


class CacheConfig(Strict):
    """ElastiCache Redis (replication group) for API caching."""

    node_type: Annotated[str, Field(pattern=r"^cache\.[a-z0-9]+\.[0-9]*[a-z]+$")]
    engine_version: Annotated[str, Field(pattern=r"^7\.[0-9]+$")] = "7.1"
    num_nodes: Annotated[int, Field(ge=1, le=6)]
    snapshot_retention_days: Annotated[int, Field(ge=0, le=35)] = 1


class ServiceConfig(Strict):
    """One workload's container size and autoscaling bounds."""

    image: Annotated[str, Field(pattern=IMAGE)]
    cpu_millicores: Annotated[int, Field(ge=100, le=4000)]
    memory_mib: Annotated[int, Field(ge=128, le=16384)]
    min_replicas: Annotated[int, Field(ge=1, le=100)]
    max_replicas: Annotated[int, Field(ge=1, le=500)]
    target_cpu_percent: Annotated[int, Field(ge=20, le=90)] = 65
    tolerate_spot: bool = False
    """May run on SPOT nodes (interruptible); the ledger-writing wallet never does."""
    workers: Annotated[int, Field(ge=1, le=16)] = 1
    """Server processes per replica (``WALLETSTUB_WORKERS``), each with its own database pool."""

    @model_validator(mode="after")
    def _bounds(self) -> ServiceConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) must be <= max_replicas ({self.max_replicas})"
            )
        return self


class ServicesConfig(Strict):
    """The two core services; exchange adapters are listed under ``exchanges``.

    ``aws_cli_image`` runs the init containers that fetch secrets the images read as files (the
    exchange credentials, the ledger master secret of the DB bootstrap); pin it by digest.
    """

    wallet: ServiceConfig
    roundups: ServiceConfig
    aws_cli_image: Annotated[str, Field(pattern=IMAGE)]


class ExchangeConfig(ServiceConfig):
    """One exchange integration: its own adapter service, role, secret, policy, route and scaling."""

    name: Annotated[str, Field(pattern=SLUG)]
    kind: Literal["crypto", "stock"]
    base_url: Annotated[str, Field(pattern=r"^https://[a-z0-9.-]+(/.*)?$")]
    egress_hosts: Annotated[list[Annotated[str, Field(pattern=HOSTNAME)]], Field(min_length=1)]
    secrets: Annotated[list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")]], Field(min_length=1)]
    fee_bps: Annotated[int, Field(ge=0, le=500)] = 10
    timeout_ms: Annotated[int, Field(ge=100, le=30000)] = 2000


SEMVER = r"^[0-9]+\.[0-9]+\.[0-9]+$"


class EckConfig(Strict):
    """Elastic Cloud on Kubernetes: the operator chart, the stack version and the cluster's size.

    ``elasticsearch_nodes``: 1 (dev/qa) or 3 and more (a master quorum that survives one node); with
    more than one node the nodes are spread over the AZs with shard allocation awareness. The data
    volumes are gp3 EBS volumes (encrypted with the EBS key) of ``elasticsearch_storage_gb`` each.
    ``kibana_access``: ``internal-lb`` (an internal NLB, reachable only inside the VPC) or
    ``port-forward`` (a ClusterIP service). ``ebs_csi_driver``: the version of the EKS add-on that
    provisions the volumes.
    """

    operator_chart_version: Annotated[str, Field(pattern=SEMVER)]
    stack_version: Annotated[str, Field(pattern=r"^(8\.1[5-9]|9\.[0-9]+)\.[0-9]+$")]
    ebs_csi_driver: Annotated[str, Field(pattern=r"^v[0-9]+\.[0-9]+\.[0-9]+-eksbuild\.[0-9]+$")]
    elasticsearch_nodes: Annotated[int, Field(ge=1, le=15)]
    elasticsearch_cpu_millicores: Annotated[int, Field(ge=500, le=16000)]
    elasticsearch_memory_mib: Annotated[int, Field(ge=2048, le=65536)]
    elasticsearch_storage_gb: Annotated[int, Field(ge=10, le=16384)]
    kibana_replicas: Annotated[int, Field(ge=1, le=3)] = 1
    apm_replicas: Annotated[int, Field(ge=1, le=10)] = 1
    kibana_access: Literal["internal-lb", "port-forward"] = "port-forward"
    snapshot_noncurrent_days: Annotated[int, Field(ge=7, le=3653)] = 30
    """Days S3 keeps a snapshot object after Elasticsearch replaced or deleted it (versioning safety net)."""

    @model_validator(mode="after")
    def _quorum(self) -> EckConfig:
        if self.elasticsearch_nodes == 2:
            raise ValueError(
                "elasticsearch_nodes 2 cannot keep a master quorum when one node is lost; "
                "allowed: 1 (dev/qa) or 3 and more"
            )
        return self


class OpenSearchConfig(Strict):
    """An Amazon OpenSearch Service domain in the private subnets (``logging.elastic: opensearch``)."""

    engine_version: Annotated[str, Field(pattern=r"^OpenSearch_[0-9]+\.[0-9]+$")]
    instance_type: Annotated[str, Field(pattern=r"^[a-z][a-z0-9]*\.[0-9]*[a-z]+\.search$")]
    instance_count: Annotated[int, Field(ge=1, le=20)]
    volume_gb: Annotated[int, Field(ge=10, le=16384)]


class ShipperConfig(Strict):
    """Fluent Bit, the DaemonSet that ships every container's log lines to Elastic.

    ``buffer_max_mb``: the filesystem buffer on each node (chunks wait there while Elastic is away).
    """

    image: Annotated[str, Field(pattern=IMAGE)] = "cr.fluentbit.io/fluent/fluent-bit:4.0.3"
    buffer_max_mb: Annotated[int, Field(ge=64, le=20480)] = 1024
    cpu_millicores: Annotated[int, Field(ge=50, le=2000)] = 100
    memory_mib: Annotated[int, Field(ge=64, le=4096)] = 128


class LoggingConfig(Strict):
    """Retention of application logs, of financial/audit logs and of access logs (WAF, API Gateway).

    Audit logs (ledger, control plane) keep the long financial retention; access logs are kept at
    least a year (PCI DSS 10.5.1) but not the audit span.
    """

    app_retention_days: Annotated[int, Field(ge=1, le=3653)]
    audit_retention_days: Annotated[int, Field(ge=365, le=3653)]
    access_retention_days: Annotated[int, Field(ge=365, le=3653)] = 400
    elastic: ElasticMode = ElasticMode.eck
    elastic_endpoint: Annotated[str, Field(pattern=r"^https://[a-z0-9.-]+(:[0-9]+)?/?$")] | None = None
    apm_endpoint: Annotated[str, Field(pattern=r"^https://[a-z0-9.-]+(:[0-9]+)?/?$")] | None = None
    """APM Server of an external Elastic deployment (``external`` only; without it, no APM)."""
    eck: EckConfig | None = None
    opensearch: OpenSearchConfig | None = None
    shipper: ShipperConfig = ShipperConfig()
    replica_region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")] | None = None
    """Where the audit archive, the CloudTrail bucket, the access logs and the Elasticsearch snapshots are
    copied (S3 Cross-Region Replication), a region other than the stack's; none keeps them in one region
    (dev and qa only)."""

    @model_validator(mode="after")
    def _endpoint(self) -> LoggingConfig:
        if (self.elastic is ElasticMode.external) != (self.elastic_endpoint is not None):
            raise ValueError("elastic_endpoint is required when elastic is 'external' and allowed only then")
        if self.apm_endpoint is not None and self.elastic is not ElasticMode.external:
            raise ValueError("apm_endpoint is allowed only when elastic is 'external' (ECK runs its own)")
        for mode, section in ((ElasticMode.eck, self.eck), (ElasticMode.opensearch, self.opensearch)):
            if (self.elastic is mode) != (section is not None):
                raise ValueError(
                    f"the '{mode.value}' section is required when elastic is '{mode.value}' and allowed "
                    f"only then (elastic is '{self.elastic.value}')"
                )
        return self


class AlarmsConfig(Strict):
    """Thresholds of the CloudWatch alarms on what ECK cannot see (managed AWS services).

    Every alarm notifies the environment's budget/alert SNS topic.
    """

    rds_cpu_percent: Annotated[float, Field(gt=0, le=100)] = 80.0
    rds_free_storage_gb: Annotated[float, Field(gt=0, le=65536)] = 10.0
    rds_replica_lag_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    cache_cpu_percent: Annotated[float, Field(gt=0, le=100)] = 80.0
    cache_evictions: Annotated[int, Field(ge=1, le=10_000_000)] = 100
    """Evictions per 5 minutes."""
    nlb_unhealthy_hosts: Annotated[int, Field(ge=1, le=1000)] = 1
    api_5xx_errors: Annotated[int, Field(ge=1, le=10_000_000)] = 10
    """5XX responses per 5 minutes."""
    api_latency_p99_ms: Annotated[float, Field(gt=0, le=29_000)] = 1000.0
    waf_blocked_requests: Annotated[int, Field(ge=1, le=100_000_000)] = 500
    """Blocked requests per 5 minutes that count as a spike."""
    evaluation_periods: Annotated[int, Field(ge=1, le=24)] = 3


class CiConfig(Strict):
    """GitHub Actions deploys through OIDC: only this repository's environment may assume the role.

    ``runner``: a CodeBuild-hosted GitHub Actions runner in the VPC, CI's path to a private EKS API
    endpoint (required when the endpoint is private); its compute type and build image.
    """

    github_repository: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]
    github_environment: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}$")]
    github_oidc_thumbprint: Annotated[str, Field(pattern=r"^[a-f0-9]{40}$")]
    runner: bool
    runner_compute_type: Literal["BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE"]
    runner_image: Annotated[str, Field(pattern=r"^aws/codebuild/[a-z0-9._/-]+:[0-9.]+$")]


class BudgetConfig(Strict):
    """The monthly AWS budget is the cost estimate times ``headroom``; alerts go to these addresses."""

    headroom: Annotated[float, Field(ge=1.0, le=3.0)] = 1.2
    alert_emails: Annotated[
        list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")]], Field(min_length=1)
    ]


class GatewayConfig(Strict):
    """Per-environment knobs of the API gateway; routes, consumers and limits live in the gateway spec."""

    waf_rate_limit_per_5min: Annotated[int, Field(ge=100, le=2_000_000_000)] = 2000
    stage_throttle_rps: Annotated[int, Field(ge=1, le=100_000)] = 1000
    stage_throttle_burst: Annotated[int, Field(ge=1, le=100_000)] = 2000


class UsageConfig(Strict):
    """Monthly usage assumptions for usage-priced items (requests, logs, traffic).

    Each is a month's total for the environment; the cost model splits it evenly over the
    resources that carry it. ``lb_*``: what crosses the load balancers (capacity units are the
    largest of the dimensions); ``cross_az_gb``: traffic between availability zones inside the
    VPC (billed on both sides); ``vpce_processed_gb``: through interface endpoints;
    ``db_backup_daily_change_gb``: what a day adds to the automated backups of each database
    (backups beyond one copy of the allocated storage are charged); ``config_items_thousands``:
    AWS Config configuration items recorded (one per resource change).
    """

    api_requests_millions: Annotated[float, Field(ge=0)] = 1.0
    log_ingest_gb: Annotated[float, Field(ge=0)] = 10.0
    nat_processed_gb: Annotated[float, Field(ge=0)] = 50.0
    data_transfer_out_gb: Annotated[float, Field(ge=0)] = 50.0
    kms_requests_thousands: Annotated[float, Field(ge=0)] = 100.0
    s3_storage_gb: Annotated[float, Field(ge=0)] = 20.0
    s3_put_requests_thousands: Annotated[float, Field(ge=0)] = 100.0
    s3_get_requests_thousands: Annotated[float, Field(ge=0)] = 1000.0
    lb_processed_gb: Annotated[float, Field(ge=0)] = 50.0
    lb_new_connections_per_second: Annotated[float, Field(ge=0)] = 5.0
    lb_active_connections: Annotated[float, Field(ge=0)] = 1000.0
    cross_az_gb: Annotated[float, Field(ge=0)] = 50.0
    vpce_processed_gb: Annotated[float, Field(ge=0)] = 20.0
    db_backup_daily_change_gb: Annotated[float, Field(ge=0)] = 1.0
    config_items_thousands: Annotated[float, Field(ge=0)] = 5.0


class LoadtestConfig(Strict):
    """A Locust master and autoscaled workers deployed into this environment's cluster."""

    in_cluster: bool = False
    image: Annotated[str, Field(pattern=IMAGE)] = "ghcr.io/walletco/walletops-loadtest:0.1.0"
    min_workers: Annotated[int, Field(ge=1, le=50)] = 2
    max_workers: Annotated[int, Field(ge=1, le=200)] = 10

    @model_validator(mode="after")
    def _workers(self) -> LoadtestConfig:
        if self.min_workers > self.max_workers:
            raise ValueError(f"min_workers ({self.min_workers}) must be <= max_workers ({self.max_workers})")
        return self


CHART_VERSION = r"^v?[0-9]+\.[0-9]+\.[0-9]+$"
DOMAIN_ENTRY = r"^\.?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"


class TransitConfig(Strict):
    """Encryption in transit inside AWS and the exchanges' egress allowlist.

    ``internal_domain``: a private hosted zone in the VPC; the internal NLB is ``nlb.<internal_domain>``
    and its TLS listeners present a certificate for that name, which API Gateway verifies (it trusts
    public CAs only): an ACM certificate validated in the public zone ``public_zone_id`` (the same
    name, split-horizon), or an existing ACM certificate ``certificate_arn`` (exactly one of the two).
    The pods serve TLS with certificates cert-manager (``cert_manager_chart``) obtains from AWS
    Private CA through the aws-privateca-issuer (``privateca_issuer_chart``): the CA
    ``private_ca_arn``, or one the program creates when it is unset.

    ``egress_firewall``: AWS Network Firewall between the NAT gateways and the internet, allowing
    only the exchanges' ``egress_hosts`` and ``platform_egress_hosts`` (image registries the nodes
    pull from; ``.example.com`` also allows its subdomains). Turning it off (dev) leaves egress
    limited by security groups and network policies to port 443 only.
    """

    internal_domain: Annotated[str, Field(pattern=HOSTNAME)]
    public_zone_id: Annotated[str, Field(pattern=r"^Z[A-Z0-9]{1,32}$")] | None = None
    certificate_arn: (
        Annotated[str, Field(pattern=r"^arn:aws:acm:[a-z0-9-]+:[0-9]{12}:certificate/[a-f0-9-]{36}$")] | None
    ) = None
    private_ca_arn: (
        Annotated[
            str,
            Field(pattern=r"^arn:aws:acm-pca:[a-z0-9-]+:[0-9]{12}:certificate-authority/[a-f0-9-]{36}$"),
        ]
        | None
    ) = None
    cert_manager_chart: Annotated[str, Field(pattern=CHART_VERSION)]
    privateca_issuer_chart: Annotated[str, Field(pattern=CHART_VERSION)]
    pod_certificate_hours: Annotated[int, Field(ge=24, le=2160)] = 720
    egress_firewall: bool
    firewall_log_retention_days: Annotated[int, Field(ge=90, le=3653)] = 365
    firewall_delete_protection: bool = True
    """AWS refuses to delete the firewall while this is on (every environment: removing it would open
    egress to the internet). Tearing a stack down is two steps: set it false and deploy, then destroy."""
    platform_egress_hosts: list[Annotated[str, Field(pattern=DOMAIN_ENTRY)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _certificate(self) -> TransitConfig:
        if (self.public_zone_id is None) == (self.certificate_arn is None):
            raise ValueError(
                "set exactly one of public_zone_id (ACM validates a public certificate for "
                f"nlb.{self.internal_domain} there) or certificate_arn (an existing ACM certificate for it)"
            )
        if self.egress_firewall and not self.platform_egress_hosts:
            raise ValueError(
                "egress_firewall needs platform_egress_hosts (the image registries the nodes pull from), "
                "or every image pull through NAT is dropped"
            )
        return self

    @property
    def nlb_host(self) -> str:
        """The name API Gateway calls the internal NLB by, and its certificate's name."""
        return f"nlb.{self.internal_domain}"


SECURITY_HUB_STANDARDS: dict[str, str] = {
    "fsbp": "standards/aws-foundational-security-best-practices/v/1.0.0",
    "cis-3.0": "standards/cis-aws-foundations-benchmark/v/3.0.0",
    "pci-dss-4.0.1": "standards/pci-dss/v/4.0.1",
}
"""Security Hub standards by short name → the ARN path after ``arn:aws:securityhub:<region>::``."""
SecurityHubStandard = Literal["fsbp", "cis-3.0", "pci-dss-4.0.1"]


class AccountConfig(Strict):
    """Account-level facts and the account's security baseline.

    ``create_autoscaling_service_linked_role``: a fresh account has no
    ``AWSServiceRoleForAutoScaling``; the EBS key policy names it, so the program creates it first.
    Set false where the account already has it (it exists once per account).

    ``baseline``: this environment's stack owns the account baseline (CloudTrail, GuardDuty, AWS
    Config, Security Hub, IAM Access Analyzer). Each environment has its own account today; if two
    share one, exactly one of them sets it.
    """

    create_autoscaling_service_linked_role: bool = True
    baseline: bool
    security_hub_standards: Annotated[list[SecurityHubStandard], Field(min_length=1)]
    archive_lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = "GOVERNANCE"
    archive_lock_days: Annotated[int, Field(ge=1, le=3653)] = 365
    """Object Lock default retention of the audit archive (COMPLIANCE: not even root can shorten it)."""


class EnvironmentConfig(Strict):
    """Everything that differs between environments, validated; ``name`` comes from the file name."""

    name: Literal["dev", "qa", "stage", "prod"]
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")]
    data_classification: DataClassification = DataClassification.confidential
    tags: TagsConfig
    compute_engine: ComputeEngine
    network: NetworkConfig
    kubernetes: KubernetesConfig | None = None
    database: DatabaseConfig
    cache: CacheConfig
    services: ServicesConfig
    exchanges: Annotated[list[ExchangeConfig], Field(min_length=2)]
    logging: LoggingConfig
    ci: CiConfig
    budget: BudgetConfig
    gateway: GatewayConfig = GatewayConfig()
    usage: UsageConfig = UsageConfig()
    loadtest: LoadtestConfig = LoadtestConfig()
    account: AccountConfig
    alarms: AlarmsConfig = AlarmsConfig()
    transit: TransitConfig

    @model_validator(mode="after")
    def _cross(self) -> EnvironmentConfig:
        if self.compute_engine is ComputeEngine.eks and self.kubernetes is None:
            raise ValueError("compute_engine 'eks' needs a 'kubernetes' section")
        if self.compute_engine is ComputeEngine.ecs and self.kubernetes is not None:
            raise ValueError("compute_engine 'ecs' takes no 'kubernetes' section; remove it or use 'eks'")
        if self.kubernetes is not None and not self.kubernetes.endpoint_public_access and not self.ci.runner:
            raise ValueError(
                "a private EKS endpoint needs ci.runner: true (CI's only path to the cluster API)"
            )
        if self.services.wallet.tolerate_spot:
            raise ValueError(
                "services.wallet.tolerate_spot must be false: the ledger never runs on SPOT nodes"
            )
        if self.logging.elastic is ElasticMode.eck and self.compute_engine is not ComputeEngine.eks:
            raise ValueError(
                "logging.elastic 'eck' runs Elastic on the EKS cluster and needs compute_engine 'eks'; "
                "with 'ecs' use elastic 'external' or 'opensearch'"
            )
        eck = self.logging.eck
        if eck is not None and self.is_production and eck.elasticsearch_nodes < 3:
            raise ValueError(
                f"logging.eck.elasticsearch_nodes is {eck.elasticsearch_nodes} in prod; allowed: 3 or more "
                "(one per AZ, so the cluster survives the loss of a zone)"
            )
        if eck is not None and 1 < eck.elasticsearch_nodes < self.network.az_count:
            raise ValueError(
                f"logging.eck.elasticsearch_nodes ({eck.elasticsearch_nodes}) must be at least "
                f"network.az_count ({self.network.az_count}) so that every AZ holds a copy"
            )
        if self.loadtest.in_cluster and self.compute_engine is not ComputeEngine.eks:
            raise ValueError("loadtest.in_cluster needs compute_engine 'eks'")
        names = [exchange.name for exchange in self.exchanges]
        if len(set(names)) != len(names):
            raise ValueError(f"exchange names must be unique, got {names}")
        if {exchange.kind for exchange in self.exchanges} != {"crypto", "stock"}:
            raise ValueError("exchanges must include at least one 'crypto' and one 'stock' exchange")
        if self.database.multi_az and self.network.az_count < 2:
            raise ValueError("database.multi_az needs network.az_count >= 2")
        if self.cache.num_nodes > 1 and self.network.az_count < 2:
            raise ValueError("cache.num_nodes > 1 needs network.az_count >= 2")
        if any(not zone.startswith(self.region) for zone in self.network.availability_zones):
            raise ValueError(f"network.availability_zones must all be in region {self.region}")
        if self.logging.replica_region == self.region:
            raise ValueError(
                f"logging.replica_region must be another region than the stack's ({self.region})"
            )
        if self.name in ("stage", "prod") and self.logging.replica_region is None:
            raise ValueError(
                f"logging.replica_region is required in {self.name}: its audit data must survive a region "
                "(allowed: an AWS region other than the stack's, e.g. eu-central-1)"
            )
        return self

    @property
    def zones(self) -> list[str]:
        """The AZs used, as named in config."""
        return list(self.network.availability_zones)

    @property
    def is_production(self) -> bool:
        return self.name == "prod"

    @property
    def prefix(self) -> str:
        """Name prefix of every resource of this environment."""
        return f"wallet-{self.name}"


STANDARD_TAG_KEYS: tuple[str, ...] = (
    "environment",
    "service",
    "component",
    "owner",
    "cost-center",
    "data-classification",
)


def standard_tags(
    env: EnvironmentConfig, component: str, service: str = "platform", data_classification: str | None = None
) -> dict[str, str]:
    """The six tags every taggable resource carries (the program sets them; policy and cost group by
    them)."""
    return {
        "environment": env.name,
        "service": service,
        "component": component,
        "owner": env.tags.owner,
        "cost-center": env.tags.cost_center,
        "data-classification": data_classification or env.data_classification.value,
    }


SECTIONS: tuple[str, ...] = tuple(
    name for name in EnvironmentConfig.model_fields if name not in ("name", "region")
)


def stack_file(project_dir: Path, env: str) -> Path:
    """Path of the stack file of ``env``; an unknown environment is a usage error."""
    if env not in ENVIRONMENTS:
        raise ConfigError(f"--env {env!r}: unknown environment; allowed: {', '.join(ENVIRONMENTS)}")
    return project_dir / f"Pulumi.{env}.yaml"


def load_environment(env: str, project_dir: Path) -> EnvironmentConfig:
    """Read and validate ``Pulumi.<env>.yaml``; raise :class:`ConfigError` listing every problem."""
    path = stack_file(project_dir, env)
    raw = _read_yaml(path)
    data = _to_model_input(raw, env, path)
    try:
        return EnvironmentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None


def load_all(project_dir: Path, envs: list[str] | None = None) -> dict[str, EnvironmentConfig]:
    """Validate several environments, reporting the problems of all of them together."""
    models: dict[str, EnvironmentConfig] = {}
    problems: list[str] = []
    for env in envs or list(ENVIRONMENTS):
        try:
            models[env] = load_environment(env, project_dir)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return models


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path.name}: file not found in {path.parent}")
    document = read_yaml(path, path.name)
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise ConfigError(
            f"{path.name}: expected a mapping with a 'config:' section, as Pulumi stack files have"
        )
    return document["config"]


def _to_model_input(raw: dict[str, Any], env: str, path: Path) -> dict[str, Any]:
    """Map Pulumi config keys (``aws:region``, ``walletops:<section>``) onto the model's fields."""
    data: dict[str, Any] = {"name": env}
    problems: list[str] = []
    for key, value in raw.items():
        namespace, _, section = str(key).partition(":")
        if key == "aws:region":
            data["region"] = value
        elif namespace == NAMESPACE and section in SECTIONS:
            data[section] = value
        elif namespace == NAMESPACE:
            allowed = ", ".join(f"{NAMESPACE}:{name}" for name in SECTIONS)
            problems.append(f"{path.name}: {key} = {_short(value)}: unknown key; allowed: {allowed}")
        elif namespace == "aws":
            problems.append(f"{path.name}: {key} = {_short(value)}: unknown key; allowed: aws:region")
        else:
            problems.append(
                f"{path.name}: {key} = {_short(value)}: unknown key; "
                f"allowed: aws:region and {NAMESPACE}:<section>"
            )
    if problems:
        raise ConfigError(problems)
    return data


def _describe(exc: ValidationError, path: Path) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False):
        loc = [part for part in error["loc"] if part not in ("function-after", "function-before")]
        value = _short(error.get("input"))
        if error["type"] == "extra_forbidden":
            allowed = ", ".join(_fields_at(loc[:-1]))
            message = f"unknown key; allowed: {allowed}"
        elif error["type"] == "missing":
            message = "required key is missing"
            value = "(missing)"
        else:
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "string_pattern_mismatch":
                message = f"does not match {error['ctx']['pattern']}"
        lines.append(
            f"{path.name}: {message}" if not loc else f"{path.name}: {_key(loc)} = {value}: {message}"
        )
    return lines


def _key(loc: list[Any]) -> str:
    head, *rest = loc
    if head == "region":
        name = "aws:region"
    elif head == "name":
        name = "stack name"
    else:
        name = f"{NAMESPACE}:{head}"
    for part in rest:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name


def _fields_at(loc: list[Any]) -> list[str]:
    """Names of the keys allowed at ``loc`` (for 'unknown key' messages)."""
    model: Any = EnvironmentConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _model_of(field.annotation)
        if model is None:
            return []
    return list(model.model_fields)


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."
