"""Monthly cost of each environment, line by line, from the plan graph and the price catalog.

Stable interface (used by the CLI, the load-test capacity model and the budgets)::

    estimate(graph, usage=None, catalog=None) -> CostReport

``graph`` is a :class:`contracts.plan_graph.PlanGraph` (planned by the command line, or read from a
``walletops plan --format json`` file); this area never plans. ``usage`` maps an environment name
to its :class:`contracts.config.UsageConfig` (monthly requests, log GB, NAT GB, egress GB, KMS requests,
S3 GB); an environment without an entry is priced with the model's defaults and the report says
so. The result is pure data: no file, network or clock is read while pricing.

How resources are priced (730 hours a month, on-demand rates, catalog region = plan region):

* always-on resources (EKS control plane, node group instances, NAT gateways, public IPv4,
  RDS and ElastiCache nodes, load balancers, Fargate tasks) are hourly rate x 730 x count;
* storage is provisioned GB x GB-month rate (node disks from the launch template, RDS storage);
  accumulating storage (log groups) is priced at its configured retention, never capped: the
  line is the steady state (a full retention window stored) and carries the first year's
  average beside it (``first_year_usd``), since a new environment fills up over months;
* usage items take the environment's usage assumptions and split them evenly across the
  resources that carry them (every NAT gateway gets its share of NAT GB, every log group its
  share of ingested GB, ...); the line says which assumption it used;
* SPOT node groups are priced at the highest on-demand rate of their instance types: an upper
  bound, since spot prices move and are not in a public price list;
* every resource type is in exactly one table: ``PRICERS`` (a function), ``FREE`` or
  ``FREE_PREFIXES`` (free, with the reason) or ``UNPRICED`` (charges that exist but that the
  model cannot price yet, with the reason). :func:`classify` answers which; a test plans every
  environment and fails on a type in none of them. A price the catalog does not carry goes to
  ``unpriced`` with the reason. Nothing is silently zero.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from contracts.config import UsageConfig
from contracts.plan_graph import PlanGraph, component_of
from cost.catalog import HOURS_PER_MONTH, Catalog, load_catalog

CURRENCY = "USD"


@dataclass(frozen=True)
class LineItem:
    """One priced quantity of one resource (a resource can have several lines)."""

    urn: str
    name: str
    type: str
    component: str
    service: str
    usage_type: str
    quantity: float
    unit: str
    unit_price: float
    monthly_usd: float
    note: str = ""
    free: bool = False
    first_year_usd: float | None = None
    """Average monthly USD over the first year when it differs from the steady state."""

    @property
    def first_year(self) -> float:
        return self.monthly_usd if self.first_year_usd is None else self.first_year_usd


@dataclass(frozen=True)
class Unpriced:
    """A resource (or one of its charges) the estimate could not price, and why."""

    urn: str
    name: str
    type: str
    component: str
    reason: str


@dataclass
class EnvironmentCost:
    """The line items and unpriced entries of one environment."""

    name: str
    region: str
    items: list[LineItem] = field(default_factory=list)
    unpriced: list[Unpriced] = field(default_factory=list)
    usage_source: str = "config"

    @property
    def monthly_usd(self) -> float:
        """The steady-state monthly total (storage at its full retention)."""
        return round(sum(item.monthly_usd for item in self.items), 2)

    @property
    def first_year_monthly_usd(self) -> float:
        """The average monthly total over the first year (storage still filling up)."""
        return round(sum(item.first_year for item in self.items), 2)

    def by_component(self) -> dict[str, float]:
        """Monthly USD per top-level component, largest first."""
        totals: dict[str, float] = defaultdict(float)
        for item in self.items:
            totals[item.component] += item.monthly_usd
        return {
            name: round(total, 2) for name, total in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
        }

    def by_resource(self) -> dict[str, float]:
        """Monthly USD per resource URN."""
        totals: dict[str, float] = defaultdict(float)
        for item in self.items:
            totals[item.urn] += item.monthly_usd
        return {urn: round(total, 2) for urn, total in totals.items()}


@dataclass
class CostReport:
    """Estimates of several environments, in plan order."""

    environments: dict[str, EnvironmentCost]
    catalog_date: str = ""

    @property
    def total_monthly_usd(self) -> float:
        return round(sum(env.monthly_usd for env in self.environments.values()), 2)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape of ``walletops cost --format json``."""
        return {
            "currency": CURRENCY,
            "environments": {
                name: {
                    "monthly_usd": env.monthly_usd,
                    "first_year_monthly_usd": env.first_year_monthly_usd,
                    "items": [asdict(item) for item in env.items],
                    "unpriced": [asdict(entry) for entry in env.unpriced],
                }
                for name, env in self.environments.items()
            },
            "total_monthly_usd": self.total_monthly_usd,
        }


@dataclass
class _Context:
    env: EnvironmentCost
    catalog: Catalog
    usage: UsageConfig
    by_urn: dict[str, dict[str, Any]]
    type_counts: Counter[str]

    def component(self, resource: dict[str, Any]) -> str:
        return component_of(resource, self.by_urn)

    def share(self, types: tuple[str, ...], total: float) -> tuple[float, int]:
        """``total`` split evenly over the resources of ``types``; also the number of them."""
        count = sum(self.type_counts[t] for t in types)
        return (total / count if count else 0.0), count

    def share_if(self, carries: Callable[[dict[str, Any]], bool], total: float) -> tuple[float, int]:
        """``total`` split evenly over the resources for which ``carries`` is true."""
        count = sum(1 for node in self.by_urn.values() if node.get("custom", True) and carries(node))
        return (total / count if count else 0.0), count

    def free(self, resource: dict[str, Any], reason: str) -> None:
        self.env.items.append(
            LineItem(
                urn=resource["urn"],
                name=resource["name"],
                type=resource["type"],
                component=self.component(resource),
                service="-",
                usage_type="free",
                quantity=0.0,
                unit="-",
                unit_price=0.0,
                monthly_usd=0.0,
                note=reason,
                free=True,
            )
        )

    def unpriced(self, resource: dict[str, Any], reason: str) -> None:
        self.env.unpriced.append(
            Unpriced(resource["urn"], resource["name"], resource["type"], self.component(resource), reason)
        )

    def charge(
        self,
        resource: dict[str, Any],
        key: str,
        quantity: float,
        note: str = "",
        first_year_quantity: float | None = None,
        *,
        tier_start: float = 0.0,
    ) -> None:
        """Price ``quantity`` units of catalog price ``key`` (one line per tier), or record it unpriced.

        ``first_year_quantity``: the first year's average monthly quantity, when it differs.
        ``tier_start``: units other resources already put into the same account-wide volume tiers.
        """
        price = self.catalog.get(key)
        if price is None:
            self.unpriced(resource, f"{key}: {self.catalog.missing_reason(key)}")
            return
        per_million = price.unit == "Requests"
        if price.derived:
            note = "; ".join(filter(None, (note, f"derived price: {price.derived}")))
        if not price.verified:
            unverified = f"rate unverified ({price.source}): confirm it against the AWS price list"
            note = "; ".join(filter(None, (note, unverified)))
        first_year = None
        if first_year_quantity is not None:
            first_year = round(sum(u * r for _, u, r in price.split(first_year_quantity, tier_start)), 2)
        for index, units, rate in price.split(quantity, tier_start):
            usage_type = (
                price.usage_type if len(price.tiers) == 1 else f"{price.usage_type} (tier {index + 1})"
            )
            self.env.items.append(
                LineItem(
                    urn=resource["urn"],
                    name=resource["name"],
                    type=resource["type"],
                    component=self.component(resource),
                    service=price.service,
                    usage_type=usage_type,
                    quantity=round(units / 1e6, 6) if per_million else round(units, 4),
                    unit="1M requests" if per_million else price.unit,
                    unit_price=round(rate * 1e6, 6) if per_million else rate,
                    monthly_usd=round(units * rate, 2),
                    note=note,
                    first_year_usd=None if first_year is None else (0.0 if index else first_year),
                )
            )

    def dependency(self, resource: dict[str, Any], typ: str) -> dict[str, Any] | None:
        """The resource of type ``typ`` that ``resource`` depends on (launch template, task definition)."""
        for urn in resource.get("dependencies", []):
            node = self.by_urn.get(urn)
            if node is not None and node["type"] == typ:
                return node
        return None


Pricer = Callable[[dict[str, Any], _Context], None]


def _inputs(resource: dict[str, Any]) -> dict[str, Any]:
    inputs = resource.get("inputs")
    return inputs if isinstance(inputs, dict) else {}


def _eks_cluster(resource: dict[str, Any], ctx: _Context) -> None:
    support = str((_inputs(resource).get("upgradePolicy") or {}).get("supportType", "EXTENDED")).upper()
    ctx.charge(resource, "eks.cluster.standard", HOURS_PER_MONTH, f"upgrade policy {support}")
    if support != "STANDARD":
        ctx.charge(
            resource,
            "eks.cluster.extended",
            HOURS_PER_MONTH,
            "upgrade policy EXTENDED: the extended-support surcharge AWS bills beside the cluster hour "
            "once the version leaves standard support",
        )


def _node_group(resource: dict[str, Any], ctx: _Context) -> None:
    inputs = _inputs(resource)
    desired = int((inputs.get("scalingConfig") or {}).get("desiredSize", 0))
    types = [str(t) for t in inputs.get("instanceTypes") or []]
    if not types:
        ctx.unpriced(resource, "node group without instanceTypes: the instance type is chosen by AWS")
        return
    capacity = str(inputs.get("capacityType", "ON_DEMAND")).upper()
    keys = [f"ec2.BoxUsage:{t}" for t in types]
    if capacity == "SPOT":
        known = [k for k in keys if ctx.catalog.get(k) is not None]
        if not known:
            ctx.charge(resource, keys[0], desired * HOURS_PER_MONTH)
        else:
            key = max(known, key=lambda k: ctx.catalog.prices[k].usd)
            ctx.charge(
                resource,
                key,
                desired * HOURS_PER_MONTH,
                f"SPOT x{desired}: priced at the highest on-demand rate of {', '.join(types)} (upper bound)",
            )
    else:
        ctx.charge(resource, keys[0], desired * HOURS_PER_MONTH, f"{desired} x {types[0]} on demand")
    _node_disks(resource, ctx, desired)


def _node_disks(resource: dict[str, Any], ctx: _Context, nodes: int) -> None:
    template = ctx.dependency(resource, "aws:ec2/launchTemplate:LaunchTemplate")
    if template is None:
        size = _inputs(resource).get("diskSize")
        if size:
            ctx.unpriced(resource, f"node disks of {size} GB without a launch template: volume type unknown")
        return
    for mapping in _inputs(template).get("blockDeviceMappings") or []:
        ebs = mapping.get("ebs") or {}
        size = float(ebs.get("volumeSize", 0))
        volume_type = str(ebs.get("volumeType", "gp2"))
        if volume_type != "gp3":
            ctx.unpriced(resource, f"node volume type {volume_type}: only gp3 is in the catalog")
            continue
        ctx.charge(
            resource, "ebs.gp3.storage", nodes * size, f"{nodes} nodes x {size:g} GB gp3 ({template['name']})"
        )
        iops = float(ebs.get("iops") or 3000)
        throughput = float(ebs.get("throughput") or 125)
        if iops > 3000:
            ctx.charge(resource, "ebs.gp3.iops", nodes * (iops - 3000), "gp3 IOPS above the 3,000 baseline")
        if throughput > 125:
            ctx.charge(resource, "ebs.gp3.throughput", nodes * (throughput - 125), "gp3 MiB/s above 125")


def _nat_gateway(resource: dict[str, Any], ctx: _Context) -> None:
    ctx.charge(resource, "nat.hours", HOURS_PER_MONTH)
    share, count = ctx.share(("aws:ec2/natGateway:NatGateway",), ctx.usage.nat_processed_gb)
    ctx.charge(resource, "nat.bytes", share, f"1/{count} of usage.nat_processed_gb")


def _eip(resource: dict[str, Any], ctx: _Context) -> None:
    ctx.charge(resource, "vpc.public_ipv4", HOURS_PER_MONTH, "public IPv4 address")


def _internet_gateway(resource: dict[str, Any], ctx: _Context) -> None:
    share, count = ctx.share(("aws:ec2/internetGateway:InternetGateway",), ctx.usage.data_transfer_out_gb)
    ctx.charge(
        resource, "dt.out.internet", share, f"1/{count} of usage.data_transfer_out_gb (internet egress)"
    )


def _vpc_endpoint(resource: dict[str, Any], ctx: _Context) -> None:
    inputs = _inputs(resource)
    if str(inputs.get("vpcEndpointType", "Gateway")) == "Gateway":
        ctx.free(resource, "gateway endpoints (S3, DynamoDB) have no hourly or data charge")
        return
    zones = len(inputs.get("subnetIds") or []) or 1
    ctx.charge(
        resource, "vpce.interface.hours", zones * HOURS_PER_MONTH, f"interface endpoint in {zones} AZs"
    )
    share, count = ctx.share_if(_interface_endpoint, ctx.usage.vpce_processed_gb)
    ctx.charge(resource, "vpce.interface.bytes", share, f"1/{count} of usage.vpce_processed_gb")


def _interface_endpoint(resource: dict[str, Any]) -> bool:
    return resource["type"] == "aws:ec2/vpcEndpoint:VpcEndpoint" and (
        str(_inputs(resource).get("vpcEndpointType", "Gateway")) != "Gateway"
    )


def _vpc(resource: dict[str, Any], ctx: _Context) -> None:
    share, count = ctx.share(("aws:ec2/vpc:Vpc",), ctx.usage.cross_az_gb)
    ctx.charge(
        resource,
        "dt.regional",
        2 * share,
        f"1/{count} of usage.cross_az_gb between availability zones, charged on both sides",
    )


DAYS_PER_MONTH = 365 / 12


def stored_months(retention_days: float) -> tuple[float, float]:
    """Months of ingestion held in storage: at steady state, and on average over the first year.

    Month ``m`` of the first year holds ``min(m - 1/2, retention)`` months on average (storage
    grows through the month until the retention window is full).
    """
    retention = retention_days / DAYS_PER_MONTH
    first_year = sum(min(month - 0.5, retention) for month in range(1, 13)) / 12
    return retention, first_year


def _log_group(resource: dict[str, Any], ctx: _Context) -> None:
    share, count = ctx.share(("aws:cloudwatch/logGroup:LogGroup",), ctx.usage.log_ingest_gb)
    ctx.charge(resource, "logs.ingest", share, f"1/{count} of usage.log_ingest_gb")
    retention = _inputs(resource).get("retentionInDays")
    if not retention:
        ctx.unpriced(
            resource,
            "logs.storage: the group never expires, so its storage grows without bound; "
            "set retentionInDays to price it",
        )
        return
    steady, first_year = stored_months(float(retention))
    ctx.charge(
        resource,
        "logs.storage",
        share * steady,
        f"steady state: {share:g} GB/month kept {retention} days ({steady:.1f} months stored); "
        f"first year averages {first_year:.1f} months; uncompressed GB (an upper bound)",
        first_year_quantity=share * first_year,
    )


def _kms_key(resource: dict[str, Any], ctx: _Context) -> None:
    ctx.charge(resource, "kms.key", 1, "customer managed key")
    share, count = ctx.share(("aws:kms/key:Key",), ctx.usage.kms_requests_thousands * 1000)
    ctx.charge(resource, "kms.requests", share, f"1/{count} of usage.kms_requests_thousands")


def _rds_instance(resource: dict[str, Any], ctx: _Context) -> None:
    inputs = _inputs(resource)
    engine = str(inputs.get("engine", ""))
    if engine != "postgres":
        ctx.unpriced(resource, f"RDS engine {engine!r}: only postgres is in the cost model")
        return
    multi = bool(inputs.get("multiAz"))
    deployment = "multi-az" if multi else "single-az"
    cls = str(inputs.get("instanceClass"))
    ctx.charge(resource, f"rds.postgres.{cls}.{deployment}", HOURS_PER_MONTH, f"{cls} {deployment}")
    storage_type = str(inputs.get("storageType", "gp2"))
    size = float(inputs.get("allocatedStorage", 0))
    if storage_type == "gp3":
        ctx.charge(resource, f"rds.gp3.{deployment}", size, f"{size:g} GB allocated")
    else:
        ctx.unpriced(resource, f"RDS storage type {storage_type}: only gp3 is in the catalog")
    retention = int(inputs.get("backupRetentionPeriod") or 0)
    if retention > 0:
        beyond = retention * ctx.usage.db_backup_daily_change_gb
        ctx.charge(
            resource,
            "rds.backup",
            beyond,
            f"{retention} days x usage.db_backup_daily_change_gb beyond the free allowance "
            f"(one copy of the {size:g} GB allocated)",
        )
    if (
        inputs.get("performanceInsightsEnabled")
        and int(inputs.get("performanceInsightsRetentionPeriod") or 7) <= 7
    ):
        ctx.free(resource, "Performance Insights with 7-day retention is included")


def _cache(resource: dict[str, Any], ctx: _Context) -> None:
    inputs = _inputs(resource)
    engine = str(inputs.get("engine", "redis"))
    node_type = str(inputs.get("nodeType"))
    nodes = int(inputs.get("numCacheClusters") or 0)
    if not nodes:
        nodes = int(inputs.get("numNodeGroups") or 1) * (1 + int(inputs.get("replicasPerNodeGroup") or 0))
    ctx.charge(
        resource, f"elasticache.{engine}.{node_type}", nodes * HOURS_PER_MONTH, f"{nodes} x {node_type}"
    )


def _secret(resource: dict[str, Any], ctx: _Context) -> None:
    ctx.charge(resource, "secretsmanager.secret", 1, "API calls not modelled (cached by the services)")


LCU_DIMENSIONS: dict[str, tuple[float, float, float]] = {
    "network": (800.0, 100_000.0, 1.0),
    "application": (25.0, 3_000.0, 1.0),
}
"""Per load balancer kind, what one capacity unit holds for an hour: new connections per second,
active connections, GB processed (TCP for the NLB; the ALB's rule evaluations stay within its
free 10 rules)."""


def _load_balancer(resource: dict[str, Any], ctx: _Context) -> None:
    kind = str(_inputs(resource).get("loadBalancerType", "application"))
    if kind not in LCU_DIMENSIONS:
        ctx.unpriced(resource, f"load balancer type {kind!r} is not in the cost model")
        return
    prefix = "elb.nlb" if kind == "network" else "elb.alb"
    ctx.charge(resource, f"{prefix}.hours", HOURS_PER_MONTH, f"{kind} load balancer")
    _, count = ctx.share(("aws:lb/loadBalancer:LoadBalancer",), 0.0)
    usage = ctx.usage
    per_connection, per_active, per_gb = LCU_DIMENSIONS[kind]
    dimensions = {
        "new connections": usage.lb_new_connections_per_second / count / per_connection,
        "active connections": usage.lb_active_connections / count / per_active,
        "processed bytes": usage.lb_processed_gb / count / HOURS_PER_MONTH / per_gb,
    }
    largest = max(dimensions, key=lambda name: dimensions[name])
    ctx.charge(
        resource,
        f"{prefix}.{'nlcu' if kind == 'network' else 'lcu'}",
        dimensions[largest] * HOURS_PER_MONTH,
        f"{dimensions[largest]:.3g} capacity units an hour ({largest}, the largest dimension) "
        f"from 1/{count} of usage.lb_*",
    )


def _rest_api(resource: dict[str, Any], ctx: _Context) -> None:
    share, count = ctx.share(("aws:apigateway/restApi:RestApi",), ctx.usage.api_requests_millions * 1e6)
    ctx.charge(resource, "apigw.rest.requests", share, f"1/{count} of usage.api_requests_millions")


def _api_stage(resource: dict[str, Any], ctx: _Context) -> None:
    if _inputs(resource).get("cacheClusterEnabled"):
        ctx.unpriced(resource, "API Gateway cache cluster is not in the catalog")
    else:
        ctx.free(resource, "a stage without a cache cluster has no charge of its own")


def _web_acl(resource: dict[str, Any], ctx: _Context) -> None:
    rules = len(_inputs(resource).get("rules") or [])
    ctx.charge(resource, "waf.web_acl", 1)
    if rules:
        ctx.charge(resource, "waf.rule", rules, f"{rules} rules")
    share, count = ctx.share(("aws:wafv2/webAcl:WebAcl",), ctx.usage.api_requests_millions * 1e6)
    ctx.charge(
        resource, "waf.requests", share, f"1/{count} of usage.api_requests_millions (every API request)"
    )


def _bucket(resource: dict[str, Any], ctx: _Context) -> None:
    share, count = ctx.share(BUCKET_TYPES, ctx.usage.s3_storage_gb)
    ctx.charge(resource, "s3.standard.storage", share, f"1/{count} of usage.s3_storage_gb")
    puts, _ = ctx.share(BUCKET_TYPES, ctx.usage.s3_put_requests_thousands * 1000)
    ctx.charge(resource, "s3.requests.tier1", puts, f"1/{count} of usage.s3_put_requests_thousands")
    gets, _ = ctx.share(BUCKET_TYPES, ctx.usage.s3_get_requests_thousands * 1000)
    ctx.charge(resource, "s3.requests.tier2", gets, f"1/{count} of usage.s3_get_requests_thousands")


def _metric_alarm(resource: dict[str, Any], ctx: _Context) -> None:
    queries = _inputs(resource).get("metricQueries") or []
    metrics = sum(1 for query in queries if query.get("metric")) or 1
    ctx.charge(resource, "cloudwatch.alarm", metrics, f"{metrics} standard-resolution alarm metric(s)")


def _config_recorder(resource: dict[str, Any], ctx: _Context) -> None:
    share, count = ctx.share(("aws:cfg/recorder:Recorder",), ctx.usage.config_items_thousands * 1000)
    ctx.charge(resource, "config.items", share, f"1/{count} of usage.config_items_thousands")


def _config_rule(resource: dict[str, Any], ctx: _Context) -> None:
    evaluations = ctx.usage.config_items_thousands * 1000
    rules = sorted(
        urn
        for urn, node in ctx.by_urn.items()
        if node.get("type") == "aws:cfg/rule:Rule" and node.get("custom", True)
    )
    position = rules.index(resource["urn"]) if resource["urn"] in rules else 0
    ctx.charge(
        resource,
        "config.rule_evaluations",
        evaluations,
        "one evaluation per configuration item recorded (usage.config_items_thousands), an upper bound "
        f"for a change-triggered rule; rule {position + 1} of {len(rules)} in the account's volume tiers",
        tier_start=position * evaluations,
    )


def _access_analyzer(resource: dict[str, Any], ctx: _Context) -> None:
    kind = str(_inputs(resource).get("type", "ACCOUNT"))
    if kind in ("ACCOUNT", "ORGANIZATION"):
        ctx.free(resource, "an analyzer of external access is free")
    else:
        ctx.unpriced(resource, f"access analyzer type {kind}: priced per role and user analyzed a month")


def _ecs_service(resource: dict[str, Any], ctx: _Context) -> None:
    inputs = _inputs(resource)
    task = ctx.dependency(resource, "aws:ecs/taskDefinition:TaskDefinition")
    if task is None:
        ctx.unpriced(resource, "ECS service whose task definition is not in the plan")
        return
    tasks = int(inputs.get("desiredCount") or 0)
    vcpu = float(_inputs(task).get("cpu") or 0) / 1024
    memory_gb = float(_inputs(task).get("memory") or 0) / 1024
    note = f"{tasks} tasks x {vcpu:g} vCPU / {memory_gb:g} GB ({task['name']})"
    ctx.charge(resource, "fargate.vcpu", tasks * vcpu * HOURS_PER_MONTH, note)
    ctx.charge(resource, "fargate.memory", tasks * memory_gb * HOURS_PER_MONTH, note)


_BINARY = {"Ki": 1 / 1024**2, "Mi": 1 / 1024, "Gi": 1.0, "Ti": 1024.0}
_DECIMAL = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def storage_gb(quantity: Any) -> float | None:
    """A Kubernetes storage quantity (``100Gi``, ``500G``, ``1Ti``) in GB as EBS bills them (GiB)."""
    text = str(quantity).strip()
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    for suffix, factor in _DECIMAL.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor / 1024**3
    try:
        return float(text) / 1024**3
    except ValueError:
        return None


def _volume_type(class_name: str | None, ctx: _Context) -> str | None:
    """The EBS volume type behind a storage class of the plan (the cluster default when unnamed)."""
    classes = [r for r in ctx.by_urn.values() if r["type"] == "kubernetes:storage.k8s.io/v1:StorageClass"]
    for storage_class in classes:
        inputs = _inputs(storage_class)
        name = (inputs.get("metadata") or {}).get("name")
        default = ((inputs.get("metadata") or {}).get("annotations") or {}).get(
            "storageclass.kubernetes.io/is-default-class"
        ) == "true"
        if (class_name and name == class_name) or (not class_name and default):
            if "ebs.csi.aws.com" not in str(inputs.get("provisioner", "")):
                return None
            return str((inputs.get("parameters") or {}).get("type", "gp3"))
    return None


def _claim(resource: dict[str, Any], ctx: _Context, spec: dict[str, Any], copies: int, label: str) -> None:
    size = storage_gb(((spec.get("resources") or {}).get("requests") or {}).get("storage", ""))
    if size is None:
        ctx.unpriced(resource, f"{label}: no storage request to price")
        return
    volume = _volume_type(spec.get("storageClassName"), ctx)
    if volume != "gp3":
        ctx.unpriced(
            resource,
            f"{label}: storage class {spec.get('storageClassName') or '(default)'} is not an EBS gp3 "
            "class of this plan; only gp3 volumes are in the catalog",
        )
        return
    ctx.charge(resource, "ebs.gp3.storage", copies * size, f"{label}: {copies} x {size:g} GB gp3 (EBS CSI)")


def _persistent_volume_claim(resource: dict[str, Any], ctx: _Context) -> None:
    _claim(resource, ctx, _inputs(resource).get("spec") or {}, 1, "persistent volume claim")


def _stateful_set(resource: dict[str, Any], ctx: _Context) -> None:
    spec = _inputs(resource).get("spec") or {}
    templates = spec.get("volumeClaimTemplates") or []
    if not templates:
        ctx.free(resource, "pods without volume claims run on the EKS node groups priced above")
        return
    replicas = int(spec.get("replicas", 1))
    for template in templates:
        name = (template.get("metadata") or {}).get("name", "data")
        _claim(resource, ctx, template.get("spec") or {}, replicas, f"volume claim template {name}")


def _elasticsearch(resource: dict[str, Any], ctx: _Context) -> None:
    """The ECK data volumes (a claim per node of each node set); the pods' CPU and memory run on
    the node groups priced above (this model prices nodes, not pod requests)."""
    for node_set in (_inputs(resource).get("spec") or {}).get("nodeSets") or []:
        nodes = int(node_set.get("count") or 0)
        for claim in node_set.get("volumeClaimTemplates") or []:
            label = f"Elasticsearch node set {node_set.get('name', '?')}"
            _claim(resource, ctx, claim.get("spec") or {}, nodes, label)


def _opensearch_domain(resource: dict[str, Any], ctx: _Context) -> None:
    inputs = _inputs(resource)
    cluster = inputs.get("clusterConfig") or {}
    count = int(cluster.get("instanceCount") or 1)
    kind = str(cluster.get("instanceType", "?"))
    ctx.charge(resource, f"opensearch.instance:{kind}", count * HOURS_PER_MONTH, f"{count} x {kind}")
    size = float((inputs.get("ebsOptions") or {}).get("volumeSize") or 0)
    ctx.charge(resource, "opensearch.gp3.storage", count * size, f"{count} nodes x {size:g} GB gp3")
def _network_firewall(resource: dict[str, Any], ctx: _Context) -> None:
    zones = len(_inputs(resource).get("subnetMappings") or []) or 1
    ctx.charge(
        resource,
        "networkfirewall.endpoint.hours",
        zones * HOURS_PER_MONTH,
        f"{zones} endpoints; the chained NAT gateways' hour and GB charges are waived 1:1 (not modelled)",
    )
    share, count = ctx.share(("aws:networkfirewall/firewall:Firewall",), ctx.usage.nat_processed_gb)
    ctx.charge(
        resource, "networkfirewall.bytes", share, f"1/{count} of usage.nat_processed_gb (all NAT egress)"
    )


def _private_ca(resource: dict[str, Any], ctx: _Context) -> None:
    mode = str(_inputs(resource).get("usageMode", "GENERAL_PURPOSE"))
    if mode != "GENERAL_PURPOSE":
        ctx.unpriced(resource, f"Private CA usage mode {mode!r} is not in the catalog")
        return
    ctx.charge(resource, "acmpca.ca.general_purpose", 1, "general-purpose mode")


def _pod_certificate(resource: dict[str, Any], ctx: _Context) -> None:
    """cert-manager renews each certificate when ``renewBefore`` is left of its ``duration``."""
    spec = _inputs(resource).get("spec") or {}
    duration = _hours(spec.get("duration"), 2160)
    renew_before = _hours(spec.get("renewBefore"), duration // 3)
    per_month = HOURS_PER_MONTH / max(1, duration - renew_before)
    ctx.charge(
        resource,
        "acmpca.certificate",
        per_month,
        f"{per_month:.2f} issued a month ({duration}h, renewed {renew_before}h early)",
    )


def _hours(value: Any, default: int) -> int:
    text = str(value or "")
    return int(text.removesuffix("h")) if text.endswith("h") and text[:-1].isdigit() else default


def _hosted_zone(resource: dict[str, Any], ctx: _Context) -> None:
    ctx.charge(resource, "route53.hosted_zone", 1, "queries not modelled")


BUCKET_TYPES = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")

PRICERS: dict[str, Pricer] = {
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:ec2/natGateway:NatGateway": _nat_gateway,
    "aws:ec2/eip:Eip": _eip,
    "aws:ec2/internetGateway:InternetGateway": _internet_gateway,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _vpc_endpoint,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:kms/key:Key": _kms_key,
    "aws:rds/instance:Instance": _rds_instance,
    "aws:elasticache/replicationGroup:ReplicationGroup": _cache,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:apigateway/restApi:RestApi": _rest_api,
    "aws:apigateway/stage:Stage": _api_stage,
    "aws:wafv2/webAcl:WebAcl": _web_acl,
    "aws:ecs/service:Service": _ecs_service,
    "aws:ec2/vpc:Vpc": _vpc,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _metric_alarm,
    "aws:cfg/recorder:Recorder": _config_recorder,
    "aws:cfg/rule:Rule": _config_rule,
    "aws:accessanalyzer/analyzer:Analyzer": _access_analyzer,
    "kubernetes:core/v1:PersistentVolumeClaim": _persistent_volume_claim,
    "kubernetes:apps/v1:StatefulSet": _stateful_set,
    "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch": _elasticsearch,
    "aws:opensearch/domain:Domain": _opensearch_domain,
    "aws:networkfirewall/firewall:Firewall": _network_firewall,
    "aws:acmpca/certificateAuthority:CertificateAuthority": _private_ca,
    "kubernetes:cert-manager.io/v1:Certificate": _pod_certificate,
    "aws:route53/zone:Zone": _hosted_zone,
    **dict.fromkeys(BUCKET_TYPES, _bucket),
}

_CONFIG = "configuration object with no charge of its own"
_LOGGED = "log ingestion is priced on the log group"
_EMAIL = "email notifications of budget alerts fall in the free tier"
FREE: dict[str, str] = {
    "aws:ec2/subnet:Subnet": "subnets are free",
    "aws:ec2/routeTable:RouteTable": _CONFIG,
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _CONFIG,
    "aws:ec2/route:Route": _CONFIG,
    "aws:ec2/securityGroup:SecurityGroup": "security groups are free",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _CONFIG,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _CONFIG,
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": _CONFIG,
    "aws:ec2/flowLog:FlowLog": "flow log delivery is priced as ingestion on its log group",
    "aws:ec2/launchTemplate:LaunchTemplate": "its volumes are priced on the node group that launches it",
    "aws:kms/alias:Alias": "aliases are free",
    "aws:ebs/encryptionByDefault:EncryptionByDefault": "account setting",
    "aws:ebs/defaultKmsKey:DefaultKmsKey": "account setting",
    "aws:iam/role:Role": "IAM is free",
    "aws:iam/rolePolicy:RolePolicy": "IAM is free",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "IAM is free",
    "aws:iam/policy:Policy": "IAM is free",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "IAM is free",
    "aws:iam/serviceLinkedRole:ServiceLinkedRole": "IAM is free",
    "aws:elasticache/user:User": "RBAC users are free; the nodes are priced on the replication group",
    "aws:elasticache/userGroup:UserGroup": "RBAC user groups are free",
    "aws:codebuild/webhook:Webhook": _CONFIG,
    "aws:codebuild/sourceCredential:SourceCredential": _CONFIG,
    "aws:codeconnections/connection:Connection": "connections are free",
    "aws:cfg/deliveryChannel:DeliveryChannel": _CONFIG,
    "aws:cfg/recorderStatus:RecorderStatus": _CONFIG,
    "aws:cloudtrail/trail:Trail": "the first copy of management events is free; storage is priced on S3",
    "aws:s3/bucketLogging:BucketLogging": "log delivery is free; the log objects are S3 storage",
    "aws:s3/bucketNotification:BucketNotification": "S3 events on the default EventBridge bus are free",
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": (
        "a replication rule; the copies are priced as storage of the replica buckets, and the "
        "inter-region transfer per GB is usage not yet in the cost model's catalog"
    ),
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": _CONFIG,
    "aws:eks/addon:Addon": "add-ons run on the node groups priced above",
    "aws:eks/accessEntry:AccessEntry": "cluster access configuration",
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": "cluster access configuration",
    "aws:ecs/cluster:Cluster": "ECS clusters are free; tasks are priced on their services",
    "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders": _CONFIG,
    "aws:ecs/taskDefinition:TaskDefinition": "priced as Fargate usage on the service that runs it",
    "aws:autoscaling/attachment:Attachment": "attaches a node group's instances to a target group",
    "aws:appautoscaling/target:Target": "autoscaling is free; the capacity it adds is not estimated",
    "aws:appautoscaling/policy:Policy": "autoscaling is free; the capacity it adds is not estimated",
    "aws:rds/subnetGroup:SubnetGroup": _CONFIG,
    "aws:rds/parameterGroup:ParameterGroup": _CONFIG,
    "aws:elasticache/subnetGroup:SubnetGroup": _CONFIG,
    "aws:elasticache/parameterGroup:ParameterGroup": _CONFIG,
    "aws:secretsmanager/secretVersion:SecretVersion": "versions are included in the secret's monthly price",
    "aws:lb/targetGroup:TargetGroup": _CONFIG,
    "aws:lb/listener:Listener": _CONFIG,
    "aws:wafv2/webAclAssociation:WebAclAssociation": _CONFIG,
    "aws:wafv2/regexPatternSet:RegexPatternSet": "free; the rules using them are priced on the web ACL",
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": _LOGGED,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _CONFIG,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _CONFIG,
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": _CONFIG,
    "aws:s3/bucketVersioning:BucketVersioning": _CONFIG,
    "aws:s3/bucketVersioningV2:BucketVersioningV2": _CONFIG,
    "aws:s3/bucketPolicy:BucketPolicy": _CONFIG,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _CONFIG,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _CONFIG,
    "aws:sns/topic:Topic": "the first million SNS requests a month are free; budget alerts send a handful",
    "aws:sns/topicPolicy:TopicPolicy": _CONFIG,
    "aws:sns/topicSubscription:TopicSubscription": _EMAIL,
    "aws:budgets/budget:Budget": "the first two budgets of an account are free",
    "random:index/randomPassword:RandomPassword": "generated locally by Pulumi, not a cloud resource",
    "aws:apigateway/account:Account": "account setting",
    "aws:cognito/userPool:UserPool": (
        "priced per monthly active user; the first 10,000 MAUs a month (Lite tier) are free, "
        "and the end users of these environments stay within them"
    ),
    "aws:cognito/userPoolClient:UserPoolClient": _CONFIG,
    "aws:cognito/userPoolDomain:UserPoolDomain": _CONFIG,
    "aws:cognito/resourceServer:ResourceServer": _CONFIG,
    "aws:networkfirewall/firewallPolicy:FirewallPolicy": "included in the firewall's endpoint hours",
    "aws:networkfirewall/ruleGroup:RuleGroup": "included in the firewall's endpoint hours",
    "aws:networkfirewall/loggingConfiguration:LoggingConfiguration": _LOGGED,
    "aws:acm/certificate:Certificate": "public ACM certificates are free",
    "aws:acm/certificateValidation:CertificateValidation": _CONFIG,
    "aws:acmpca/certificate:Certificate": "the CA's own certificate, issued once when the CA is created",
    "aws:acmpca/certificateAuthorityCertificate:CertificateAuthorityCertificate": _CONFIG,
    "aws:route53/record:Record": "records are free; DNS queries are not modelled",
}
for _api_type in (
    "resource:Resource",
    "method:Method",
    "integration:Integration",
    "deployment:Deployment",
    "usagePlan:UsagePlan",
    "apiKey:ApiKey",
    "usagePlanKey:UsagePlanKey",
    "vpcLink:VpcLink",
    "methodSettings:MethodSettings",
    "methodResponse:MethodResponse",
    "integrationResponse:IntegrationResponse",
    "requestValidator:RequestValidator",
    "authorizer:Authorizer",
    "response:Response",
):
    FREE[f"aws:apigateway/{_api_type}"] = "REST API configuration; requests are priced on the RestApi"

FREE["aws:securityhub/standardsSubscription:StandardsSubscription"] = (
    "a standard's checks are billed to the Security Hub account (see its line)"
)

UNPRICED: dict[str, str] = {
    "aws:guardduty/detector:Detector": (
        "GuardDuty bills per CloudTrail event, VPC flow and DNS log GB analysed: {guardduty}"
    ),
    "aws:guardduty/detectorFeature:DetectorFeature": (
        "each protection plan bills its own usage (EKS audit events, runtime vCPU, S3 data events, "
        "RDS login vCPU, malware GB scanned): {guardduty}"
    ),
    "aws:securityhub/account:Account": "billed per security check and finding ingested: {securityhub.checks}",
    "aws:codebuild/project:Project": "billed per build minute of CI jobs: {codebuild.minutes}",
}
"""Types that do cost money but that the model cannot price yet. ``{key}`` in a reason is replaced
by the catalog's reason for that key's absence."""

FREE_PREFIXES: dict[str, str] = {
    "pulumi:providers:": "provider configuration, not a cloud resource",
    "kubernetes:": (
        "Kubernetes objects run on the EKS node groups priced above (their volumes are priced on "
        "PersistentVolumeClaims and StatefulSets)"
    ),
}


def classify(typ: str) -> str | None:
    """``priced``, ``free`` or ``unpriced`` from the tables above; None for a type in none of them."""
    if typ in PRICERS:
        return "priced"
    if typ in FREE or any(typ.startswith(prefix) for prefix in FREE_PREFIXES):
        return "free"
    if typ in UNPRICED:
        return "unpriced"
    return None


def _unpriced_reason(template: str, catalog: Catalog) -> str:
    return re.sub(r"\{([\w.]+)\}", lambda m: catalog.missing_reason(m.group(1)), template)


def _price_resource(resource: dict[str, Any], ctx: _Context) -> None:
    typ = resource["type"]
    pricer = PRICERS.get(typ)
    if pricer is not None:
        pricer(resource, ctx)
        return
    if typ in FREE:
        ctx.free(resource, FREE[typ])
        return
    for prefix, reason in FREE_PREFIXES.items():
        if typ.startswith(prefix):
            ctx.free(resource, reason)
            return
    if typ in UNPRICED:
        ctx.unpriced(resource, _unpriced_reason(UNPRICED[typ], ctx.catalog))
        return
    ctx.unpriced(resource, f"resource type {typ} is not in the cost model")


def estimate(
    graph: PlanGraph,
    usage: Mapping[str, UsageConfig] | None = None,
    catalog: Catalog | None = None,
) -> CostReport:
    """Price every environment of a plan graph; see the module docstring for the rules."""
    environments: dict[str, EnvironmentCost] = {}
    catalog_date = ""
    for env_plan in graph:
        name = env_plan.name
        region = env_plan.region or "eu-west-1"
        prices = catalog or load_catalog(region)
        catalog_date = prices.snapshot_date
        resources = env_plan.custom_resources
        env = EnvironmentCost(name=name, region=region)
        env_usage = (usage or {}).get(name)
        if env_usage is None:
            env.usage_source = "defaults"
            env_usage = UsageConfig()
        ctx = _Context(
            env=env,
            catalog=prices,
            usage=env_usage,
            by_urn={urn: dict(resource) for urn, resource in env_plan.by_urn.items()},
            type_counts=Counter(r["type"] for r in resources),
        )
        for resource in resources:
            _price_resource(dict(resource), ctx)
        environments[name] = env
    return CostReport(environments=environments, catalog_date=catalog_date)
