"""In transit: TLS on every hop behind the gateway, and internet egress through an allowlist firewall."""

from __future__ import annotations

from collections.abc import Iterator

from infra.policy.model import (
    Context,
    NotApplicable,
    Resource,
    Severity,
    Violation,
    prop,
    resource_rule,
    stack_rule,
    tags_of,
)

LISTENER = "aws:lb/listener:Listener"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
INTEGRATION = "aws:apigateway/integration:Integration"
FIREWALL = "aws:networkfirewall/firewall:Firewall"
FIREWALL_POLICY = "aws:networkfirewall/firewallPolicy:FirewallPolicy"
RULE_GROUP = "aws:networkfirewall/ruleGroup:RuleGroup"
FIREWALL_LOGGING = "aws:networkfirewall/loggingConfiguration:LoggingConfiguration"
NAT_GATEWAY = "aws:ec2/natGateway:NatGateway"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
SUBNET = "aws:ec2/subnet:Subnet"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

TLS_POLICIES = (
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
)
EGRESS_HOSTS_ANNOTATION = "walletops.io/egress-hosts"
ALLOWLIST_TAG = "egress-allowlist"
"""Tag naming what a firewall rule group allows: ``exchanges`` (from config) or ``platform``."""
ALLOWLIST_OPTIONAL_ENVS = ("dev",)
DROPS = ("aws:drop_established", "aws:drop_strict")
ANYWHERE = "0.0.0.0/0"


@resource_rule(
    "WO-TLS-001",
    "Load balancer listeners terminate TLS 1.2+ with a certificate",
    severity=Severity.mandatory,
    controls=("PCI 4.2.1",),
    remediation="Set protocol='TLS' (or 'HTTPS'), certificate_arn and ssl_policy="
    "'ELBSecurityPolicy-TLS13-1-2-2021-06' on every listener.",
    types=(LISTENER,),
)
def listener_tls(resource: Resource, ctx: Context) -> str | None:
    problems = []
    protocol = prop(resource, "protocol")
    if protocol not in ("TLS", "HTTPS"):
        problems.append(f"protocol is {protocol!r}, not TLS")
    if not prop(resource, "certificateArn"):
        problems.append("no certificateArn")
    if prop(resource, "sslPolicy") not in TLS_POLICIES:
        problems.append(f"sslPolicy {prop(resource, 'sslPolicy')!r} is not a TLS 1.2+ policy")
    return "; ".join(problems) or None


@resource_rule(
    "WO-TLS-002",
    "API Gateway calls its backends over HTTPS and verifies their certificate",
    severity=Severity.mandatory,
    controls=("PCI 4.2.1",),
    remediation="Use an https:// integration URI naming the host of the backend's certificate, and "
    "tls_config insecure_skip_verification=False.",
    types=(INTEGRATION,),
)
def integration_https(resource: Resource, ctx: Context) -> str | None:
    if prop(resource, "type") not in ("HTTP", "HTTP_PROXY"):
        raise NotApplicable("not an HTTP integration")
    problems = []
    uri = str(prop(resource, "uri", ""))
    if not uri.startswith("https://"):
        problems.append(f"uri {uri!r} is not https")
    if prop(resource, "tlsConfig.insecureSkipVerification") is True:
        problems.append("insecureSkipVerification is true")
    return "; ".join(problems) or None


@resource_rule(
    "WO-TLS-003",
    "Target groups speak TLS to their targets and check health over HTTPS",
    severity=Severity.mandatory,
    controls=("PCI 4.2.1",),
    remediation="Set protocol='TLS' and health_check protocol='HTTPS'; the targets serve TLS "
    "(WALLETSTUB_TLS_CERT_FILE/_KEY_FILE from a cert-manager certificate).",
    types=(TARGET_GROUP,),
)
def target_group_tls(resource: Resource, ctx: Context) -> str | None:
    problems = []
    protocol = prop(resource, "protocol")
    if protocol not in ("TLS", "HTTPS"):
        problems.append(f"protocol is {protocol!r}, not TLS")
    health = prop(resource, "healthCheck.protocol")
    if health != "HTTPS":
        problems.append(f"health checks use {health!r}, not HTTPS")
    return "; ".join(problems) or None


def configured_hosts(ctx: Context) -> set[str]:
    """Hosts the exchanges may call, as their network policies carry them (from config)."""
    hosts: set[str] = set()
    for policy in ctx.of_type(NETWORK_POLICY):
        annotations = prop(policy, "metadata.annotations", {}) or {}
        hosts.update(host for host in str(annotations.get(EGRESS_HOSTS_ANNOTATION, "")).split(",") if host)
    return hosts


@stack_rule(
    "WO-VPC-008",
    "Internet egress passes a firewall allowing only the configured hosts",
    severity=Severity.mandatory,
    controls=("PCI 1.3.2", "PCI 1.4.2", "FSBP NetworkFirewall.3", "FSBP NetworkFirewall.4"),
    remediation="Set transit.egress_firewall: true: an aws.networkfirewall.Firewall whose policy drops "
    "established traffic by default, with a domain-list ALLOWLIST rule group tagged "
    "egress-allowlist=exchanges listing exactly the exchanges' egress_hosts, and alert logging.",
)
def egress_allowlist(ctx: Context) -> Iterator[Violation]:
    if not ctx.of_type(NAT_GATEWAY):
        raise NotApplicable("no NAT gateway: nothing leaves the VPC")
    if ctx.env in ALLOWLIST_OPTIONAL_ENVS:
        raise NotApplicable(f"the egress firewall is optional in {ctx.env}")
    firewalls = ctx.of_type(FIREWALL)
    if not firewalls:
        yield Violation("NAT gateways reach the internet without a Network Firewall")
        return
    hosts = configured_hosts(ctx)
    for firewall in firewalls:
        yield from _firewall_problems(firewall, hosts, ctx)


def _firewall_problems(firewall: Resource, hosts: set[str], ctx: Context) -> Iterator[Violation]:
    name, urn = firewall["name"], firewall["urn"]
    policies = ctx.referenced_by(firewall, FIREWALL_POLICY)
    if not policies:
        yield Violation(f"{name}: no firewall policy in the plan", urn)
        return
    document = prop(policies[0], "firewallPolicy", {}) or {}
    if not set(document.get("statefulDefaultActions") or []) & set(DROPS):
        yield Violation(f"{name}: the policy's stateful default action does not drop", urn)
    groups = ctx.referenced_by(policies[0], RULE_GROUP)
    exchanges = [g for g in groups if tags_of(g).get(ALLOWLIST_TAG) == "exchanges"]
    if not exchanges:
        yield Violation(f"{name}: no rule group tagged {ALLOWLIST_TAG}=exchanges", urn)
    for group in exchanges:
        source = prop(group, "ruleGroup.rulesSource.rulesSourceList", {}) or {}
        if source.get("generatedRulesType") != "ALLOWLIST":
            yield Violation(f"{group['name']}: not a domain ALLOWLIST", group["urn"])
        listed = set(source.get("targets") or [])
        missing, extra = sorted(hosts - listed), sorted(listed - hosts)
        if missing:
            yield Violation(
                f"{group['name']}: configured hosts not allowed: {', '.join(missing)}", group["urn"]
            )
        if extra:
            yield Violation(
                f"{group['name']}: allows hosts no exchange is configured with: {', '.join(extra)}",
                group["urn"],
            )
    logs = [
        config
        for config in ctx.referencing(firewall, FIREWALL_LOGGING)
        for destination in prop(config, "loggingConfiguration.logDestinationConfigs", []) or []
        if destination.get("logType") == "ALERT"
    ]
    if not logs:
        yield Violation(f"{name}: dropped traffic is not logged (no ALERT log destination)", urn)


@stack_rule(
    "WO-VPC-009",
    "Only firewall subnets route to the internet gateway, and it routes back through the firewall",
    severity=Severity.mandatory,
    controls=("PCI 1.3.2", "PCI 1.2.1"),
    remediation="Route public (NAT) subnets' 0.0.0.0/0 to the firewall endpoint of their AZ, the "
    "firewall subnets' to the internet gateway, and associate an edge route table with the internet "
    "gateway routing each public subnet's CIDR to the firewall endpoint.",
)
def egress_routes(ctx: Context) -> Iterator[Violation]:
    if not ctx.of_type(FIREWALL):
        raise NotApplicable("no egress firewall in this environment")
    for route in ctx.of_type(ROUTE):
        if prop(route, "destinationCidrBlock") != ANYWHERE or not ctx.referenced_by(route, INTERNET_GATEWAY):
            continue
        for table in ctx.referenced_by(route, ROUTE_TABLE):
            tiers = {
                tags_of(subnet).get("tier")
                for association in ctx.referencing(table, ASSOCIATION)
                for subnet in ctx.referenced_by(association, SUBNET)
            }
            if tiers != {"firewall"}:
                shown = ", ".join(sorted(str(tier) for tier in tiers)) or "no subnet"
                yield Violation(
                    f"{route['name']}: 0.0.0.0/0 to the internet gateway from {shown}", route["urn"]
                )
    edge = [
        association
        for gateway in ctx.of_type(INTERNET_GATEWAY)
        for association in ctx.referencing(gateway, ASSOCIATION)
    ]
    returning = [
        route
        for association in edge
        for table in ctx.referenced_by(association, ROUTE_TABLE)
        for route in ctx.referencing(table, ROUTE)
        if prop(route, "vpcEndpointId")
    ]
    if not returning:
        yield Violation(
            "the internet gateway has no edge route table sending replies back through the firewall"
        )
