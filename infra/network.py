"""The VPC: public subnets for NAT only, private app subnets, isolated data subnets, flow logs.

Subnets are carved from the VPC block: app subnets get ``/prefix+4`` each (room for pod IPs with the
VPC CNI), data and public subnets ``/prefix+8`` from the upper half. Data subnets have no route
off the VPC. AWS APIs are reached through VPC endpoints, so the nodes need NAT only for exchange
APIs. The default security group is taken over with no rules, so it denies everything.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from contracts.config import ComputeEngine, EnvironmentConfig, NatLayout
from infra.common import WalletComponent, policy_json
from infra.egress import EgressFirewall, EgressFirewallArgs

INTERFACE_ENDPOINTS: tuple[str, ...] = ("ecr.api", "ecr.dkr", "sts", "kms", "logs", "secretsmanager")
POSTGRES_PORT = 5432
REDIS_PORT = 6379
HTTPS_PORT = 443


@dataclass
class NetworkArgs:
    """``logs_key_arn`` encrypts the flow-log group.

    ``listener_ports``: the internal NLB's listeners (reached from the VPC link and, on ECS, from
    the tasks); ``target_ports``: where the NLB sends traffic in the app tier (node ports on EKS,
    the container port on ECS), opened from the load balancer's security group only.
    """

    logs_key_arn: pulumi.Input[str]
    firewall_key_arn: pulumi.Input[str] | None
    """The egress firewall's key (``None`` when ``transit.egress_firewall`` is off)."""
    listener_ports: list[int]
    target_ports: list[int]
    permissions_boundary_arn: pulumi.Input[str]


def carve_subnets(cidr: str, az_count: int) -> dict[str, list[str]]:
    """CIDR blocks of the public, app, data and firewall subnets, one per AZ (pure: tested directly)."""
    vpc = ipaddress.IPv4Network(cidr)
    app_blocks = list(vpc.subnets(new_prefix=vpc.prefixlen + 4))
    upper = app_blocks[8]
    small = list(upper.subnets(new_prefix=vpc.prefixlen + 8))
    return {
        "app": [str(block) for block in app_blocks[:az_count]],
        "data": [str(block) for block in small[:az_count]],
        "public": [str(block) for block in small[4 : 4 + az_count]],
        "firewall": [str(block) for block in small[8 : 8 + az_count]],
    }


class Network(WalletComponent):
    """VPC, subnets, NAT, routes, endpoints, flow logs and the security groups of each tier."""

    component = "network"

    def __init__(
        self, name: str, args: NetworkArgs, env: EnvironmentConfig, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("network:Network", name, env, opts)
        zones = env.zones
        blocks = carve_subnets(env.network.cidr, len(zones))

        self.vpc = aws.ec2.Vpc(
            self.name("vpc"),
            cidr_block=env.network.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**self.tags(), "Name": self.name("vpc")},
            opts=self.child_opts(),
        )
        aws.ec2.DefaultSecurityGroup(
            self.name("default-sg"),
            vpc_id=self.vpc.id,
            ingress=[],
            egress=[],
            tags={**self.tags(), "Name": self.name("default-deny")},
            opts=self.child_opts(),
        )
        igw = aws.ec2.InternetGateway(
            self.name("igw"), vpc_id=self.vpc.id, tags=self.tags(), opts=self.child_opts()
        )

        self.public_subnets = self._subnets(
            "public", blocks["public"], zones, {"kubernetes.io/role/elb": "1"}
        )
        self.app_subnets = self._subnets(
            "app", blocks["app"], zones, {"kubernetes.io/role/internal-elb": "1"}
        )
        self.data_subnets = self._subnets("data", blocks["data"], zones, {})

        nat_count = len(zones) if env.network.nat is NatLayout.per_az else 1
        self.nat_gateways: list[aws.ec2.NatGateway] = []
        for index in range(nat_count):
            eip = aws.ec2.Eip(
                self.name("nat-eip", zones[index]), domain="vpc", tags=self.tags(), opts=self.child_opts()
            )
            self.nat_gateways.append(
                aws.ec2.NatGateway(
                    self.name("nat", zones[index]),
                    allocation_id=eip.id,
                    subnet_id=self.public_subnets[index].id,
                    connectivity_type="public",
                    tags={**self.tags(), "Name": self.name("nat", zones[index])},
                    opts=self.child_opts(depends_on=[igw]),
                )
            )

        self.egress: EgressFirewall | None = None
        if env.transit.egress_firewall:
            assert args.firewall_key_arn is not None
            self._firewalled_egress(igw, blocks, nat_count, args.logs_key_arn, args.firewall_key_arn)
        else:
            self._direct_egress(igw)

        self.app_route_tables: list[aws.ec2.RouteTable] = []
        for index, subnet in enumerate(self.app_subnets):
            table = aws.ec2.RouteTable(
                self.name("rt-app", zones[index]),
                vpc_id=self.vpc.id,
                tags=self.tags(),
                opts=self.child_opts(),
            )
            aws.ec2.Route(
                self.name("rt-app-default", zones[index]),
                route_table_id=table.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=self.nat_gateways[index % nat_count].id,
                opts=self.child_opts(),
            )
            aws.ec2.RouteTableAssociation(
                self.name("rta-app", zones[index]),
                route_table_id=table.id,
                subnet_id=subnet.id,
                opts=self.child_opts(),
            )
            self.app_route_tables.append(table)

        data_rt = aws.ec2.RouteTable(
            self.name("rt-data"),
            vpc_id=self.vpc.id,
            tags=self.tags(data_classification="restricted"),
            opts=self.child_opts(),
        )
        for index, subnet in enumerate(self.data_subnets):
            aws.ec2.RouteTableAssociation(
                self.name("rta-data", zones[index]),
                route_table_id=data_rt.id,
                subnet_id=subnet.id,
                opts=self.child_opts(),
            )

        self._flow_logs(args.logs_key_arn, args.permissions_boundary_arn)
        self._security_groups(args.listener_ports, args.target_ports)
        self._endpoints([*self.app_route_tables, data_rt])

        self.register_outputs(
            {
                "vpc_id": self.vpc.id,
                "app_subnet_ids": [s.id for s in self.app_subnets],
                "data_subnet_ids": [s.id for s in self.data_subnets],
                "public_subnet_ids": [s.id for s in self.public_subnets],
            }
        )

    def _direct_egress(self, igw: aws.ec2.InternetGateway) -> None:
        """Public subnets straight to the internet gateway (no egress allowlist: dev)."""
        zones = self.env.zones
        public_rt = aws.ec2.RouteTable(
            self.name("rt-public"), vpc_id=self.vpc.id, tags=self.tags(), opts=self.child_opts()
        )
        aws.ec2.Route(
            self.name("rt-public-default"),
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=self.child_opts(),
        )
        for index, subnet in enumerate(self.public_subnets):
            aws.ec2.RouteTableAssociation(
                self.name("rta-public", zones[index]),
                route_table_id=public_rt.id,
                subnet_id=subnet.id,
                opts=self.child_opts(),
            )

    def _firewalled_egress(
        self,
        igw: aws.ec2.InternetGateway,
        blocks: dict[str, list[str]],
        nat_count: int,
        logs_key_arn: pulumi.Input[str],
        key_arn: pulumi.Input[str],
    ) -> None:
        """NAT → firewall endpoint → internet gateway, and back the same way.

        One firewall subnet per AZ with a NAT gateway; each public (NAT) subnet's default route goes
        to the firewall endpoint of its AZ (or of the single NAT's AZ), the firewall subnets route to
        the internet gateway, and the gateway's edge route table sends each public subnet's CIDR back
        to that same endpoint, so the firewall sees both directions of every flow.
        """
        zones = self.env.zones
        self.firewall_subnets = self._subnets(
            "firewall", blocks["firewall"][:nat_count], zones[:nat_count], {}
        )
        self.egress = EgressFirewall(
            "egress",
            EgressFirewallArgs(
                vpc_id=self.vpc.id, subnets=self.firewall_subnets, logs_key_arn=logs_key_arn, key_arn=key_arn
            ),
            self.env,
            pulumi.ResourceOptions(parent=self),
        )
        endpoints = [self.egress.endpoint_of(subnet) for subnet in self.firewall_subnets]
        firewall_rt = aws.ec2.RouteTable(
            self.name("rt-firewall"), vpc_id=self.vpc.id, tags=self.tags(), opts=self.child_opts()
        )
        aws.ec2.Route(
            self.name("rt-firewall-default"),
            route_table_id=firewall_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=self.child_opts(),
        )
        for index, subnet in enumerate(self.firewall_subnets):
            aws.ec2.RouteTableAssociation(
                self.name("rta-firewall", zones[index]),
                route_table_id=firewall_rt.id,
                subnet_id=subnet.id,
                opts=self.child_opts(),
            )
        edge_rt = aws.ec2.RouteTable(
            self.name("rt-igw-edge"), vpc_id=self.vpc.id, tags=self.tags(), opts=self.child_opts()
        )
        aws.ec2.RouteTableAssociation(
            self.name("rta-igw-edge"), route_table_id=edge_rt.id, gateway_id=igw.id, opts=self.child_opts()
        )
        for index, subnet in enumerate(self.public_subnets):
            zone = zones[index]
            endpoint = endpoints[index % nat_count]
            table = aws.ec2.RouteTable(
                self.name("rt-public", zone), vpc_id=self.vpc.id, tags=self.tags(), opts=self.child_opts()
            )
            aws.ec2.Route(
                self.name("rt-public-default", zone),
                route_table_id=table.id,
                destination_cidr_block="0.0.0.0/0",
                vpc_endpoint_id=endpoint,
                opts=self.child_opts(depends_on=[self.egress]),
            )
            aws.ec2.RouteTableAssociation(
                self.name("rta-public", zone),
                route_table_id=table.id,
                subnet_id=subnet.id,
                opts=self.child_opts(),
            )
            aws.ec2.Route(
                self.name("rt-igw-edge-return", zone),
                route_table_id=edge_rt.id,
                destination_cidr_block=blocks["public"][index],
                vpc_endpoint_id=endpoint,
                opts=self.child_opts(depends_on=[self.egress]),
            )

    def _subnets(
        self, tier: str, blocks: list[str], zones: list[str], extra: dict[str, str]
    ) -> list[aws.ec2.Subnet]:
        classification = "restricted" if tier == "data" else None
        return [
            aws.ec2.Subnet(
                self.name(tier, zone),
                vpc_id=self.vpc.id,
                cidr_block=block,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={
                    **self.tags(data_classification=classification),
                    "Name": self.name(tier, zone),
                    "tier": tier,
                    **extra,
                },
                opts=self.child_opts(),
            )
            for block, zone in zip(blocks, zones, strict=True)
        ]

    def _flow_logs(self, logs_key_arn: pulumi.Input[str], boundary_arn: pulumi.Input[str]) -> None:
        group = aws.cloudwatch.LogGroup(
            self.name("flow-logs"),
            name=f"/walletops/{self.env.name}/vpc-flow-logs",
            retention_in_days=self.env.network.flow_log_retention_days,
            kms_key_id=logs_key_arn,
            tags={**self.tags(), "log-class": "audit"},
            opts=self.child_opts(stateful=True),
        )
        role = aws.iam.Role(
            self.name("flow-logs-role"),
            permissions_boundary=boundary_arn,
            assume_role_policy=policy_json(
                [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ]
            ),
            tags=self.tags(),
            opts=self.child_opts(),
        )
        aws.iam.RolePolicy(
            self.name("flow-logs-write"),
            role=role.id,
            policy=group.arn.apply(
                lambda arn: policy_json(
                    [
                        {
                            "Effect": "Allow",
                            "Action": [
                                "logs:CreateLogStream",
                                "logs:PutLogEvents",
                                "logs:DescribeLogStreams",
                            ],
                            "Resource": [arn, f"{arn}:*"],
                        }
                    ]
                )
            ),
            opts=self.child_opts(),
        )
        aws.ec2.FlowLog(
            self.name("flow-log"),
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=self.tags(),
            opts=self.child_opts(),
        )

    def _security_group(self, tier: str, description: str) -> aws.ec2.SecurityGroup:
        return aws.ec2.SecurityGroup(
            self.name("sg", tier),
            vpc_id=self.vpc.id,
            description=description,
            tags={**self.tags(), "Name": self.name("sg", tier)},
            opts=self.child_opts(),
        )

    def _rule(
        self,
        direction: str,
        sg: aws.ec2.SecurityGroup,
        label: str,
        port: int,
        *,
        cidr: str | None = None,
        peer: aws.ec2.SecurityGroup | None = None,
        to_port: int | None = None,
        protocol: str = "tcp",
    ) -> None:
        """One ingress or egress rule as its own resource (inline rules would hide them from policy)."""
        rule = aws.vpc.SecurityGroupIngressRule if direction == "in" else aws.vpc.SecurityGroupEgressRule
        rule(
            self.name(direction, label),
            security_group_id=sg.id,
            ip_protocol=protocol,
            from_port=None if protocol == "-1" else port,
            to_port=None if protocol == "-1" else (to_port or port),
            cidr_ipv4=cidr,
            referenced_security_group_id=peer.id if peer else None,
            description=label,
            tags=self.tags(),
            opts=self.child_opts(),
        )

    def _security_groups(self, listener_ports: list[int], target_ports: list[int]) -> None:
        cidr = self.env.network.cidr
        self.lb_sg = self._security_group("lb", "Internal NLB behind the API gateway VPC link")
        self.app_sg = self._security_group("app", "Workloads: EKS nodes or ECS tasks")
        self.db_sg = self._security_group("db", "Ledger PostgreSQL: reachable from workloads only")
        self.cache_sg = self._security_group("cache", "Redis: reachable from workloads only")
        self.endpoint_sg = self._security_group("endpoints", "Interface VPC endpoints: HTTPS from the VPC")

        low, high = min(listener_ports), max(listener_ports)
        first, last = min(target_ports), max(target_ports)
        self._rule("in", self.lb_sg, "lb-from-vpc-link", low, to_port=high, cidr=cidr)
        self._rule("out", self.lb_sg, "lb-to-app", first, to_port=last, peer=self.app_sg)
        self._rule("in", self.app_sg, "app-from-lb", first, to_port=last, peer=self.lb_sg)
        self._rule("in", self.app_sg, "app-from-app", 0, peer=self.app_sg, protocol="-1")
        self._rule("out", self.app_sg, "app-to-app", 0, peer=self.app_sg, protocol="-1")
        if self.env.compute_engine is ComputeEngine.ecs:  # ECS tasks call each other through the NLB
            self._rule("out", self.app_sg, "app-to-lb", low, to_port=high, peer=self.lb_sg)
        self._rule("out", self.app_sg, "app-https", HTTPS_PORT, cidr="0.0.0.0/0")
        self._rule("out", self.app_sg, "app-to-db", POSTGRES_PORT, peer=self.db_sg)
        self._rule("out", self.app_sg, "app-to-cache", REDIS_PORT, peer=self.cache_sg)
        self._rule("out", self.app_sg, "app-dns-udp", 53, cidr=cidr, protocol="udp")
        self._rule("out", self.app_sg, "app-dns-tcp", 53, cidr=cidr)
        self._rule("in", self.db_sg, "db-from-app", POSTGRES_PORT, peer=self.app_sg)
        self._rule("in", self.cache_sg, "cache-from-app", REDIS_PORT, peer=self.app_sg)
        self._rule("in", self.endpoint_sg, "endpoints-https", HTTPS_PORT, cidr=cidr)

    def _endpoints(self, route_tables: list[aws.ec2.RouteTable]) -> None:
        region = self.env.region
        aws.ec2.VpcEndpoint(
            self.name("vpce-s3"),
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[table.id for table in route_tables],
            tags=self.tags(),
            opts=self.child_opts(),
        )
        for service in INTERFACE_ENDPOINTS:
            aws.ec2.VpcEndpoint(
                self.name("vpce", service.replace(".", "-")),
                vpc_id=self.vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=[subnet.id for subnet in self.app_subnets],
                security_group_ids=[self.endpoint_sg.id],
                tags=self.tags(),
                opts=self.child_opts(),
            )
