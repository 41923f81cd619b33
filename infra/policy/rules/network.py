"""EC2 and VPC: IMDSv2, no public addresses off the public tier, closed default SG, flow logs, ingress."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from infra.policy.model import (
    Context,
    Resource,
    Severity,
    Violation,
    prop,
    resource_rule,
    stack_rule,
    tags_of,
)

VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
VPC_ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"

ANYWHERE = ("0.0.0.0/0", "::/0")
ADMIN_PORTS = {22: "SSH", 3389: "RDP"}
HTTPS = 443
LOAD_BALANCERS = (
    "aws:lb/loadBalancer:LoadBalancer",
    "aws:alb/loadBalancer:LoadBalancer",
    "aws:elb/loadBalancer:LoadBalancer",
)
REQUIRED_ENDPOINTS = ("s3", "ecr.api", "ecr.dkr", "sts", "kms", "logs", "secretsmanager")


def is_public_subnet(subnet: Resource) -> bool:
    """A subnet is public when tagged ``tier: public`` (the network component's convention)."""
    tags = tags_of(subnet)
    return tags.get("tier") == "public" or "kubernetes.io/role/elb" in tags


@resource_rule(
    "WO-EC2-001",
    "Instances and launch templates require IMDSv2",
    severity=Severity.mandatory,
    controls=("FSBP EC2.8", "CIS 5.6", "PCI 2.2.6"),
    remediation="Set metadata_options.http_tokens='required' (http_put_response_hop_limit 1, or 2 for pods).",
    types=(LAUNCH_TEMPLATE, INSTANCE),
)
def imdsv2(resource: Resource, ctx: Context) -> str | None:
    tokens = prop(resource, "metadataOptions.httpTokens")
    return None if tokens == "required" else f"metadataOptions.httpTokens is {tokens!r}, not 'required'"


@resource_rule(
    "WO-EC2-002",
    "Subnets off the public tier never auto-assign public IPs",
    severity=Severity.mandatory,
    controls=("FSBP EC2.15", "PCI 1.4.4"),
    remediation="Set map_public_ip_on_launch=False on private-app and data subnets.",
    types=(SUBNET,),
)
def private_subnet_public_ip(resource: Resource, ctx: Context) -> str | None:
    if is_public_subnet(resource):
        return None
    if prop(resource, "mapPublicIpOnLaunch") is True:
        return f"private subnet (tier {tags_of(resource).get('tier', '?')}) has mapPublicIpOnLaunch true"
    return None


@resource_rule(
    "WO-EC2-003",
    "Public subnets do not auto-assign public IPs either",
    severity=Severity.advisory,
    controls=("FSBP EC2.15",),
    remediation="Set map_public_ip_on_launch=False; load balancers and NAT gateways get their own addresses.",
    types=(SUBNET,),
)
def public_subnet_public_ip(resource: Resource, ctx: Context) -> str | None:
    if is_public_subnet(resource) and prop(resource, "mapPublicIpOnLaunch") is True:
        return "public subnet has mapPublicIpOnLaunch true"
    return None


@resource_rule(
    "WO-EC2-004",
    "Launch templates attach no public IP and encrypt their volumes",
    severity=Severity.mandatory,
    controls=("FSBP EC2.9", "FSBP EC2.3", "PCI 1.4.4", "PCI 3.5.1"),
    remediation="Drop associate_public_ip_address from network_interfaces and set ebs.encrypted=True "
    "(volume_type gp3) on every block device mapping.",
    types=(LAUNCH_TEMPLATE,),
)
def launch_template_network_and_disks(resource: Resource, ctx: Context) -> str | None:
    problems = []
    for nic in prop(resource, "networkInterfaces", []) or []:
        if str(nic.get("associatePublicIpAddress", "false")).lower() == "true":
            problems.append("a network interface associates a public IP")
    for mapping in prop(resource, "blockDeviceMappings", []) or []:
        ebs = mapping.get("ebs") or {}
        if str(ebs.get("encrypted", "false")).lower() != "true":
            problems.append(f"volume {mapping.get('deviceName', '?')} is not encrypted")
    return "; ".join(problems) or None


@resource_rule(
    "WO-EC2-005",
    "The default security group allows no traffic",
    severity=Severity.mandatory,
    controls=("FSBP EC2.2", "CIS 5.4", "PCI 1.2.1", "PCI 1.3.1"),
    remediation="Manage the VPC's aws.ec2.DefaultSecurityGroup with no ingress and no egress blocks.",
    types=(DEFAULT_SG,),
)
def default_sg_closed(resource: Resource, ctx: Context) -> str | None:
    ingress = prop(resource, "ingress", []) or []
    egress = prop(resource, "egress", []) or []
    if ingress or egress:
        return f"default security group has {len(ingress)} ingress and {len(egress)} egress rules"
    return None


@resource_rule(
    "WO-VPC-001",
    "Every VPC's default security group is managed (and so closed) by the stack",
    severity=Severity.mandatory,
    controls=("FSBP EC2.2", "CIS 5.4"),
    remediation="Add aws.ec2.DefaultSecurityGroup(vpc_id=vpc.id) without rules for each VPC; "
    "AWS creates the default group allowing all traffic inside it.",
    types=(VPC,),
    graph=True,
)
def vpc_default_sg_managed(resource: Resource, ctx: Context) -> str | None:
    return (
        None if ctx.referencing(resource, DEFAULT_SG) else "no aws.ec2.DefaultSecurityGroup manages this VPC"
    )


@resource_rule(
    "WO-VPC-002",
    "Every VPC has flow logs capturing all traffic",
    severity=Severity.mandatory,
    controls=("FSBP EC2.6", "CIS 3.7", "PCI 10.2.1"),
    remediation="Add aws.ec2.FlowLog(vpc_id=vpc.id, traffic_type='ALL') into a KMS-encrypted log group.",
    types=(VPC,),
    graph=True,
)
def vpc_flow_logs(resource: Resource, ctx: Context) -> str | None:
    logs = ctx.referencing(resource, FLOW_LOG)
    if not logs:
        return "no flow log for this VPC"
    if not any(prop(log, "trafficType") == "ALL" for log in logs):
        return "flow logs capture only part of the traffic (trafficType is not ALL)"
    return None


def _port_range(rule: dict[str, Any]) -> tuple[int, int] | None:
    """Ports of a rule; ``None`` means every port (protocol ``-1`` or no ports given)."""
    protocol = str(rule.get("ipProtocol", rule.get("protocol", "-1")))
    if protocol in ("-1", "all"):
        return None
    low, high = rule.get("fromPort"), rule.get("toPort")
    if low is None or high is None:
        return None
    return int(low), int(high)


def _cidrs(rule: dict[str, Any]) -> list[str]:
    found = []
    for key in ("cidrIpv4", "cidrIpv6"):
        if rule.get(key):
            found.append(str(rule[key]))
    for key in ("cidrBlocks", "ipv6CidrBlocks"):
        found.extend(str(value) for value in rule.get(key) or [])
    return found


def ingress_rules(ctx: Context) -> Iterator[tuple[Resource, dict[str, Any], Resource | None]]:
    """Every ingress rule as (resource, rule body, owning security group if known)."""
    for rule in ctx.of_type(INGRESS_RULE):
        groups = ctx.referenced_by(rule, SECURITY_GROUP)
        yield rule, rule.get("inputs", {}), groups[0] if groups else None
    for rule in ctx.of_type(LEGACY_RULE):
        if prop(rule, "type") == "ingress":
            groups = ctx.referenced_by(rule, SECURITY_GROUP)
            yield rule, rule.get("inputs", {}), groups[0] if groups else None
    for group in ctx.of_type(SECURITY_GROUP):
        for inline in prop(group, "ingress", []) or []:
            yield group, inline, group


def is_load_balancer_group(group: Resource | None, ctx: Context) -> bool:
    """Whether a load balancer of this stack uses the group (taken from the graph, not from its name)."""
    return group is not None and bool(ctx.referencing(group, *LOAD_BALANCERS))


@stack_rule(
    "WO-VPC-003",
    "No ingress from anywhere except HTTPS to a load balancer",
    severity=Severity.mandatory,
    controls=("FSBP EC2.18", "FSBP EC2.19", "PCI 1.3.1", "PCI 1.4.2"),
    remediation="Restrict the source to the VPC CIDR or a peer security group; only a load balancer's "
    "security group may accept 0.0.0.0/0, and only on 443.",
)
def open_ingress(ctx: Context) -> Iterator[Violation]:
    for owner, rule, group in ingress_rules(ctx):
        open_from = [cidr for cidr in _cidrs(rule) if cidr in ANYWHERE]
        if not open_from:
            continue
        ports = _port_range(rule)
        if ports == (HTTPS, HTTPS) and is_load_balancer_group(group, ctx):
            continue
        shown = "all ports" if ports is None else f"ports {ports[0]}-{ports[1]}"
        yield Violation(f"{owner['name']}: ingress from {open_from[0]} on {shown}", owner["urn"])


@stack_rule(
    "WO-VPC-004",
    "No SSH or RDP from anywhere",
    severity=Severity.mandatory,
    controls=("FSBP EC2.13", "FSBP EC2.14", "CIS 5.2", "CIS 5.3", "PCI 1.3.1"),
    remediation="Remove the rule; reach nodes with SSM Session Manager instead of opening 22 or 3389.",
)
def admin_ports_open(ctx: Context) -> Iterator[Violation]:
    for owner, rule, _group in ingress_rules(ctx):
        open_from = [cidr for cidr in _cidrs(rule) if cidr in ANYWHERE]
        if not open_from:
            continue
        ports = _port_range(rule)
        for port, name in ADMIN_PORTS.items():
            if ports is None or ports[0] <= port <= ports[1]:
                yield Violation(f"{owner['name']}: {name} ({port}) open to {open_from[0]}", owner["urn"])


@resource_rule(
    "WO-VPC-005",
    "No all-protocol egress to anywhere",
    severity=Severity.advisory,
    controls=("PCI 1.3.2", "PCI 1.4.2"),
    remediation="Limit egress to anywhere to the ports really needed (e.g. 443 to exchanges).",
    types=(EGRESS_RULE,),
)
def open_egress(resource: Resource, ctx: Context) -> str | None:
    inputs = resource.get("inputs", {})
    if any(cidr in ANYWHERE for cidr in _cidrs(inputs)) and _port_range(inputs) is None:
        return "egress to anywhere on every protocol and port"
    return None


@resource_rule(
    "WO-VPC-006",
    "Private VPC endpoints exist for S3, ECR, STS, KMS, Logs and Secrets Manager",
    severity=Severity.advisory,
    controls=("FSBP EC2.10", "PCI 1.4.1"),
    remediation="Add a gateway endpoint for S3 and interface endpoints (private DNS on) for the others.",
    types=(VPC,),
    graph=True,
)
def vpc_endpoints(resource: Resource, ctx: Context) -> str | None:
    present = {
        str(prop(e, "serviceName", "")).split(".", 3)[-1] for e in ctx.referencing(resource, VPC_ENDPOINT)
    }
    missing = [service for service in REQUIRED_ENDPOINTS if service not in present]
    return f"missing endpoints: {', '.join(missing)}" if missing else None


TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"


@stack_rule(
    "WO-VPC-007",
    "Every target group's port is open from a security group (the load balancer's)",
    severity=Severity.mandatory,
    controls=("PCI 1.2.1", "PCI 12.10.1"),
    remediation="Open the port the target group sends to (node ports on EKS, the container port on "
    "ECS) in the app security group from the load balancer's security group; otherwise every target "
    "stays unhealthy.",
)
def target_ports_open(ctx: Context) -> Iterator[Violation]:
    peered = [
        _port_range(rule)
        for _owner, rule, _group in ingress_rules(ctx)
        if rule.get("referencedSecurityGroupId")
        or rule.get("sourceSecurityGroupId")
        or rule.get("securityGroups")
    ]
    for target in ctx.of_type(TARGET_GROUP):
        port = prop(target, "port")
        if port is None:
            continue
        if not any(ports is None or ports[0] <= int(port) <= ports[1] for ports in peered):
            yield Violation(f"{target['name']}: port {port} is open from no security group", target["urn"])
