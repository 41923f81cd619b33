"""Network: private tiers, NAT layout per environment, flow logs, endpoints, closed security groups."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from plan_helpers import by_urn, key_arn_of, of_type, one

from infra.network import INTERFACE_ENDPOINTS, carve_subnets


def test_subnets_are_carved_without_overlap() -> None:
    blocks = carve_subnets("10.40.0.0/16", 3)
    networks = [ipaddress.IPv4Network(b) for tier in blocks.values() for b in tier]
    assert len(networks) == 12
    assert all(not a.overlaps(b) for i, a in enumerate(networks) for b in networks[i + 1 :])
    assert all(n.subnet_of(ipaddress.IPv4Network("10.40.0.0/16")) for n in networks)
    assert blocks["app"][0] == "10.40.0.0/20"


@pytest.mark.parametrize(
    ("env", "zones", "nats"), [("dev", 2, 1), ("qa", 2, 1), ("stage", 3, 3), ("prod", 3, 3)]
)
def test_vpc_has_three_private_tiers_and_the_configured_nat_layout(
    plans: dict[str, Any], env: str, zones: int, nats: int
) -> None:
    plan = plans[env]
    subnets = of_type(plan, "aws:ec2/subnet:Subnet")
    tiers = {
        tier: [s for s in subnets if s["inputs"]["tags"]["tier"] == tier]
        for tier in ("public", "app", "data")
    }
    assert all(len(found) == zones for found in tiers.values())
    assert not any(s["inputs"].get("mapPublicIpOnLaunch") for s in subnets)
    assert len(of_type(plan, "aws:ec2/natGateway:NatGateway")) == nats
    public_nat_subnets = {s["inputs"]["subnetId"] for s in of_type(plan, "aws:ec2/natGateway:NatGateway")}
    assert len(public_nat_subnets) == nats


def test_data_subnets_have_no_route_off_the_vpc(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    routes = of_type(plan, "aws:ec2/route:Route")
    data_table = next(
        r for r in of_type(plan, "aws:ec2/routeTable:RouteTable") if r["name"].endswith("rt-data")
    )
    urns = by_urn(plan)
    assert all(data_table["urn"] not in route["dependencies"] for route in routes)
    app_routes = [r for r in routes if "rt-app-default" in r["name"]]
    assert len(app_routes) == 3 and all(r["inputs"].get("natGatewayId") for r in app_routes)
    assert all(
        urns[d]["type"] != "aws:ec2/internetGateway:InternetGateway"
        for r in app_routes
        for d in r["dependencies"]
    )


def test_default_security_group_denies_everything(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        default = one(plan, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
        assert default["inputs"].get("ingress", []) == [] and default["inputs"].get("egress", []) == []


def test_no_security_group_opens_ingress_to_the_internet(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        for rule in of_type(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
            cidr = rule["inputs"].get("cidrIpv4")
            assert cidr != "0.0.0.0/0", rule["name"]
            assert cidr is None or ipaddress.IPv4Network(cidr).is_private
        for rule in of_type(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"):
            assert rule["inputs"].get("fromPort") not in (22, 3389)


def test_flow_logs_go_to_a_kms_encrypted_group(plans: dict[str, Any]) -> None:
    for plan in plans.values():
        flow = one(plan, "aws:ec2/flowLog:FlowLog")
        assert flow["inputs"]["trafficType"] == "ALL"
        group = next(g for g in of_type(plan, "aws:cloudwatch/logGroup:LogGroup") if "flow-logs" in g["name"])
        assert group["inputs"]["kmsKeyId"] == key_arn_of(plan, "logs")
        assert group["inputs"]["retentionInDays"] >= 365


def test_vpc_endpoints_for_s3_and_the_aws_apis(plans: dict[str, Any]) -> None:
    endpoints = of_type(plans["stage"], "aws:ec2/vpcEndpoint:VpcEndpoint")
    services = {
        e["inputs"]["serviceName"].split("eu-west-1.")[1]: e["inputs"]["vpcEndpointType"] for e in endpoints
    }
    assert services.pop("s3") == "Gateway"
    assert set(services) == set(INTERFACE_ENDPOINTS)
    assert set(services.values()) == {"Interface"}


def _covers(rule: dict[str, Any], port: int) -> bool:
    inputs = rule["inputs"]
    return inputs["ipProtocol"] == "-1" or inputs["fromPort"] <= port <= inputs["toPort"]


@pytest.mark.parametrize("engine", ["eks", "ecs"])
def test_every_target_group_port_is_open_from_the_load_balancer(
    engine: str, plans: dict[str, Any], ecs_plan: dict[str, Any]
) -> None:
    plan = ecs_plan if engine == "ecs" else plans["qa"]
    groups = {g["name"]: g for g in of_type(plan, "aws:ec2/securityGroup:SecurityGroup")}
    lb_sg, app_sg = groups["wallet-qa-sg-lb"]["urn"], groups["wallet-qa-sg-app"]["urn"]
    ingress = [
        r
        for r in of_type(plan, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if app_sg in r["dependencies"] and lb_sg in r["dependencies"]
    ]
    egress = [
        r
        for r in of_type(plan, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r["name"].endswith("out-lb-to-app")
    ]
    targets = of_type(plan, "aws:lb/targetGroup:TargetGroup")
    assert targets
    for target in targets:
        port = target["inputs"]["port"]
        assert any(_covers(rule, port) for rule in ingress), (
            f"{target['name']}: port {port} closed on the app SG"
        )
        assert any(_covers(rule, port) for rule in egress), f"{target['name']}: LB SG cannot reach {port}"
        assert target["inputs"]["healthCheck"]["port"] == "traffic-port"
