"""The egress allowlist: Network Firewall between NAT and the internet, its hosts from config, its routes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from plan_helpers import by_urn, key_arn_of, of_type, one

from contracts.config import load_environment
from infra.egress import exchange_hosts, rule_capacity
from infra.network import carve_subnets
from infra.planner import plan_environments
from infra.policy.engine import evaluate_environment
from infra.policy.model import all_rules

ROOT = Path(__file__).resolve().parents[2]
FIREWALL = "aws:networkfirewall/firewall:Firewall"
RULE_GROUP = "aws:networkfirewall/ruleGroup:RuleGroup"
ROUTE = "aws:ec2/route:Route"
EGRESS_RULES = ("WO-VPC-008", "WO-VPC-009")


def _groups(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["inputs"]["tags"]["egress-allowlist"]: g["inputs"] for g in of_type(plan, RULE_GROUP)}


def _verdicts(env: str, plan: dict[str, Any]) -> dict[str, str]:
    rules = [rule for rule in all_rules() if rule.id in EGRESS_RULES]
    return {r.rule.id: r.verdict for r in evaluate_environment(env, plan["resources"], rules=rules)}


@pytest.mark.parametrize("env", ["qa", "stage", "prod"])
def test_the_firewall_allows_exactly_the_configured_hosts(plans: dict[str, Any], env: str) -> None:
    config = load_environment(env, ROOT)
    groups = _groups(plans[env])
    assert set(groups) == {"exchanges", "platform"}
    exchanges = groups["exchanges"]["ruleGroup"]["rulesSource"]["rulesSourceList"]
    assert (
        exchanges["targets"]
        == exchange_hosts(config)
        == sorted({host for exchange in config.exchanges for host in exchange.egress_hosts})
    )
    assert exchanges["generatedRulesType"] == "ALLOWLIST"
    assert exchanges["targetTypes"] == ["TLS_SNI", "HTTP_HOST"]
    platform = groups["platform"]["ruleGroup"]["rulesSource"]["rulesSourceList"]["targets"]
    assert platform == sorted(set(config.transit.platform_egress_hosts))
    policy = one(plans[env], "aws:networkfirewall/firewallPolicy:FirewallPolicy")
    document = policy["inputs"]["firewallPolicy"]
    assert document["statefulDefaultActions"] == ["aws:drop_established", "aws:alert_established"]
    assert document["statefulEngineOptions"]["ruleOrder"] == "STRICT_ORDER"
    assert document["statelessDefaultActions"] == ["aws:forward_to_sfe"]
    group_urns = {g["urn"] for g in of_type(plans[env], RULE_GROUP)}
    assert group_urns <= set(policy["dependencies"])
    assert policy["urn"] in one(plans[env], FIREWALL)["dependencies"]
    assert _verdicts(env, plans[env]) == {"WO-VPC-008": "passed", "WO-VPC-009": "passed"}
    key = key_arn_of(plans[env], "firewall")
    for resource in [policy, one(plans[env], FIREWALL), *of_type(plans[env], RULE_GROUP)]:
        assert resource["inputs"]["encryptionConfiguration"] == {"keyId": key, "type": "CUSTOMER_KMS"}


def test_nat_traffic_crosses_the_firewall_endpoint_of_its_zone_both_ways(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    config = load_environment("prod", ROOT)
    urns = by_urn(plan)
    firewall = one(plan, FIREWALL)
    subnets = {s["urn"]: s for s in of_type(plan, "aws:ec2/subnet:Subnet")}
    firewall_subnets = [s for s in subnets.values() if s["inputs"]["tags"]["tier"] == "firewall"]
    assert [s["inputs"]["availabilityZone"] for s in firewall_subnets] == config.zones
    endpoint_of_zone = {
        urns[s["urn"]]["inputs"]["availabilityZone"]: attachment["endpointId"]
        for s in firewall_subnets
        for status in firewall["outputs"]["firewallStatuses"]
        for state in status["syncStates"]
        for attachment in state["attachments"]
        if attachment["subnetId"] == s["id"]
    }
    assert len(set(endpoint_of_zone.values())) == 3
    routes = {r["name"]: r["inputs"] for r in of_type(plan, ROUTE)}
    public = carve_subnets(config.network.cidr, 3)["public"]
    for zone, cidr in zip(config.zones, public, strict=True):
        assert routes[f"wallet-prod-rt-public-default-{zone}"] == {
            "destinationCidrBlock": "0.0.0.0/0",
            "routeTableId": routes[f"wallet-prod-rt-public-default-{zone}"]["routeTableId"],
            "vpcEndpointId": endpoint_of_zone[zone],
        }
        edge = routes[f"wallet-prod-rt-igw-edge-return-{zone}"]
        assert (edge["destinationCidrBlock"], edge["vpcEndpointId"]) == (cidr, endpoint_of_zone[zone])
        assert routes[f"wallet-prod-rt-app-default-{zone}"].get("natGatewayId")
    assert routes["wallet-prod-rt-firewall-default"]["gatewayId"].startswith("igw-")
    to_igw = [name for name, route in routes.items() if route.get("gatewayId", "").startswith("igw-")]
    assert to_igw == ["wallet-prod-rt-firewall-default"]
    edge_association = next(
        a
        for a in of_type(plan, "aws:ec2/routeTableAssociation:RouteTableAssociation")
        if a["inputs"].get("gatewayId")
    )
    assert edge_association["name"] == "wallet-prod-rta-igw-edge"
    assert firewall["inputs"]["deleteProtection"] is True


def test_firewall_logs_alerts_and_flows_encrypted_with_configured_retention(plans: dict[str, Any]) -> None:
    plan = plans["stage"]
    config = load_environment("stage", ROOT)
    logging = one(plan, "aws:networkfirewall/loggingConfiguration:LoggingConfiguration")
    destinations = logging["inputs"]["loggingConfiguration"]["logDestinationConfigs"]
    assert sorted(d["logType"] for d in destinations) == ["ALERT", "FLOW"]
    groups = {g["inputs"]["name"]: g["inputs"] for g in of_type(plan, "aws:cloudwatch/logGroup:LogGroup")}
    for destination in destinations:
        group = groups[destination["logDestination"]["logGroup"]]
        assert group["retentionInDays"] == config.transit.firewall_log_retention_days
        assert group["kmsKeyId"].startswith("arn:aws:kms:")
    assert one(plan, FIREWALL)["urn"] in logging["dependencies"]


@pytest.mark.parametrize("env", ["qa", "stage", "prod"])
def test_every_firewall_is_delete_protected_and_logs_for_a_year(plans: dict[str, Any], env: str) -> None:
    """checkov CKV_AWS_344 and CKV_AWS_338: qa and stage too, not only prod."""
    assert one(plans[env], FIREWALL)["inputs"]["deleteProtection"] is True
    groups = [
        g
        for g in of_type(plans[env], "aws:cloudwatch/logGroup:LogGroup")
        if "/network-firewall/" in g["inputs"]["name"]
    ]
    assert len(groups) == 2 and all(g["inputs"]["retentionInDays"] >= 365 for g in groups)


def test_dev_turns_the_firewall_off_by_config(plans: dict[str, Any]) -> None:
    plan = plans["dev"]
    assert not load_environment("dev", ROOT).transit.egress_firewall
    assert not of_type(plan, FIREWALL) and not of_type(plan, RULE_GROUP)
    assert not [k for k in of_type(plan, "aws:kms/key:Key") if k["name"].endswith("-kms-firewall")]
    public = next(r for r in of_type(plan, ROUTE) if r["name"] == "wallet-dev-rt-public-default")
    assert public["inputs"]["gatewayId"].startswith("igw-")
    assert _verdicts("dev", plan) == {"WO-VPC-008": "not-applicable", "WO-VPC-009": "not-applicable"}


def test_the_exchanges_security_group_egress_is_443_only(plans: dict[str, Any]) -> None:
    to_internet = [
        r["inputs"]
        for r in of_type(plans["prod"], "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
        if r["inputs"].get("cidrIpv4") == "0.0.0.0/0"
    ]
    assert to_internet and all(
        (r["ipProtocol"], r["fromPort"], r["toPort"]) == ("tcp", 443, 443) for r in to_internet
    )


def test_capacity_leaves_room_and_steps_by_hundreds() -> None:
    assert rule_capacity(1) == 100
    assert rule_capacity(50) == 100
    assert rule_capacity(51) == 200


def test_hosts_removed_from_config_leave_the_allowlist_and_a_stray_host_is_flagged(
    project_copy: Callable[[], Path],
) -> None:
    project = project_copy()
    path = project / "Pulumi.qa.yaml"
    document = yaml.safe_load(path.read_text())
    alpaca = next(e for e in document["config"]["walletops:exchanges"] if e["name"] == "alpaca")
    alpaca["egress_hosts"] = ["api.alpaca.markets"]
    path.write_text(yaml.safe_dump(document))
    plan = plan_environments([load_environment("qa", project)], project)["qa"].to_document()
    targets = _groups(plan)["exchanges"]["ruleGroup"]["rulesSource"]["rulesSourceList"]["targets"]
    assert "data.alpaca.markets" not in targets and "api.alpaca.markets" in targets
    assert _verdicts("qa", plan)["WO-VPC-008"] == "passed"
    group = next(g for g in plan["resources"] if g["type"] == RULE_GROUP and g["name"].endswith("exchanges"))
    group["inputs"]["ruleGroup"]["rulesSource"]["rulesSourceList"]["targets"].append("data.alpaca.markets")
    assert _verdicts("qa", plan)["WO-VPC-008"] == "failed"
