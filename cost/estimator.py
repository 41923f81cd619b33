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
* usage items take the environment's usage assumptions and split them evenly across the
  resources that carry them (every NAT gateway gets its share of NAT GB, every log group its
  share of ingested GB, ...); the line says which assumption it used;
* SPOT node groups are priced at the highest on-demand rate of their instance types: an upper
  bound, since spot prices move and are not in a public price list;
* a resource type that costs nothing by itself is listed as a free line with the reason;
  a type the model does not know, or a price the catalog does not carry, goes to ``unpriced``
  with the reason. Nothing is silently zero.
"""

from __future__ import annotations

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
        return round(sum(item.monthly_usd for item in self.items), 2)

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

    def charge(self, resource: dict[str, Any], key: str, quantity: float, note: str = "") -> None:
        """Price ``quantity`` units of catalog price ``key`` (one line per tier), or record it unpriced."""
        price = self.catalog.get(key)
        if price is None:
            self.unpriced(resource, f"{key}: {self.catalog.missing_reason(key)}")
            return
        per_million = price.unit == "Requests"
        if price.derived:
            note = "; ".join(filter(None, (note, f"derived price: {price.derived}")))
        for index, (units, rate) in enumerate(price.split(quantity)):
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
    if support == "STANDARD":
        ctx.charge(resource, "eks.cluster.standard", HOURS_PER_MONTH, "upgrade policy STANDARD")
    else:
        ctx.charge(
            resource,
            "eks.cluster.extended",
            HOURS_PER_MONTH,
            "upgrade policy EXTENDED: priced at the extended-support rate, what the cluster costs "
            "once its version leaves standard support",
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


def _log_group(resource: dict[str, Any], ctx: _Context) -> None:
    share, count = ctx.share(("aws:cloudwatch/logGroup:LogGroup",), ctx.usage.log_ingest_gb)
    ctx.charge(resource, "logs.ingest", share, f"1/{count} of usage.log_ingest_gb")
    retention = _inputs(resource).get("retentionInDays")
    months = min(float(retention), 365.0) / 30 if retention else 12.0
    note = (
        f"steady state: {share:g} GB/month kept {retention} days"
        if retention
        else "never expires: priced at 12 months of accumulation"
    )
    ctx.charge(resource, "logs.storage", share * months, note)


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
    if int(inputs.get("backupRetentionPeriod") or 0) > 0:
        ctx.free(resource, "automated backups up to the provisioned storage size are included")
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


def _load_balancer(resource: dict[str, Any], ctx: _Context) -> None:
    kind = str(_inputs(resource).get("loadBalancerType", "application"))
    key = {"network": "elb.nlb.hours", "application": "elb.alb.hours"}.get(kind)
    if key is None:
        ctx.unpriced(resource, f"load balancer type {kind!r} is not in the cost model")
        return
    ctx.charge(resource, key, HOURS_PER_MONTH, "capacity units not modelled (no usage assumption)")


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
    ctx.charge(
        resource, "s3.standard.storage", share, f"1/{count} of usage.s3_storage_gb; requests not modelled"
    )


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
    **dict.fromkeys(BUCKET_TYPES, _bucket),
}

_CONFIG = "configuration object with no charge of its own"
_LOGGED = "log ingestion is priced on the log group"
_EMAIL = "email notifications of budget alerts fall in the free tier"
_NOT_YET = "usage-priced (per event, item or check) and not yet in the cost model's catalog"
FREE: dict[str, str] = {
    "aws:ec2/vpc:Vpc": "VPCs are free",
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
    "aws:accessanalyzer/analyzer:Analyzer": "an account analyzer of external access is free",
    "aws:codebuild/project:Project": "CodeBuild bills build minutes of CI jobs, not estimated here",
    "aws:codebuild/webhook:Webhook": _CONFIG,
    "aws:codebuild/sourceCredential:SourceCredential": _CONFIG,
    "aws:codeconnections/connection:Connection": "connections are free",
    "aws:cfg/deliveryChannel:DeliveryChannel": _CONFIG,
    "aws:cfg/recorderStatus:RecorderStatus": _CONFIG,
    "aws:cfg/recorder:Recorder": _NOT_YET,
    "aws:cfg/rule:Rule": _NOT_YET,
    "aws:cloudtrail/trail:Trail": "the first copy of management events is free; storage is priced on S3",
    "aws:guardduty/detector:Detector": _NOT_YET,
    "aws:guardduty/detectorFeature:DetectorFeature": _NOT_YET,
    "aws:securityhub/account:Account": _NOT_YET,
    "aws:securityhub/standardsSubscription:StandardsSubscription": _NOT_YET,
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
    "aws:cloudwatch/metricAlarm:MetricAlarm": "alarms are not in the cost model's catalog",
    "random:index/randomPassword:RandomPassword": "generated locally by Pulumi, not a cloud resource",
    "aws:apigateway/account:Account": "account setting",
    "aws:cognito/userPool:UserPool": (
        "priced per monthly active user; the first 10,000 MAUs a month (Lite tier) are free, "
        "and the end users of these environments stay within them"
    ),
    "aws:cognito/userPoolClient:UserPoolClient": _CONFIG,
    "aws:cognito/userPoolDomain:UserPoolDomain": _CONFIG,
    "aws:cognito/resourceServer:ResourceServer": _CONFIG,
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

FREE_PREFIXES: dict[str, str] = {
    "pulumi:providers:": "provider configuration, not a cloud resource",
    "kubernetes:": "Kubernetes objects run on the EKS node groups priced above",
}


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
