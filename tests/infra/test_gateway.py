"""The AWS gateway: usage plans and keys from the spec, throttling, access logs, WAF attached."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plan_helpers import of_type, one

from contracts.gateway_spec import load_gateway_spec

ROOT = Path(__file__).resolve().parents[2]


def test_usage_plans_carry_each_consumers_rate_burst_and_quota(plans: dict[str, Any]) -> None:
    spec = load_gateway_spec(ROOT)
    plan_inputs = {
        p["inputs"]["name"].removeprefix("wallet-dev-plan-"): p["inputs"]
        for p in of_type(plans["dev"], "aws:apigateway/usagePlan:UsagePlan")
    }
    assert set(plan_inputs) == {c.name for c in spec.consumers}
    for consumer in spec.consumers:
        inputs = plan_inputs[consumer.name]
        assert inputs["throttleSettings"] == {
            "rateLimit": consumer.rate_per_second,
            "burstLimit": consumer.burst,
        }
        assert inputs["quotaSettings"] == {"limit": consumer.quota_per_day, "period": "DAY"}
    assert len(of_type(plans["dev"], "aws:apigateway/usagePlanKey:UsagePlanKey")) == len(spec.consumers)


def test_every_method_needs_an_api_key_and_operator_routes_need_iam(plans: dict[str, Any]) -> None:
    methods = of_type(plans["prod"], "aws:apigateway/method:Method")
    served = [m for m in methods if m["inputs"]["httpMethod"] != "ANY"]
    assert served and all(m["inputs"]["apiKeyRequired"] is True for m in served)
    ledger = [m for m in served if "-ledger-" in m["name"]]
    assert ledger and all(m["inputs"]["authorization"] == "AWS_IAM" for m in ledger)
    public = [m for m in served if m not in ledger]
    assert public and all(m["inputs"]["authorization"] == "COGNITO_USER_POOLS" for m in public)
    assert all(m["inputs"]["authorizationScopes"] == ["wallet/public"] for m in public)


def test_stage_logs_access_and_throttles(plans: dict[str, Any]) -> None:
    plan = plans["stage"]
    stage = one(plan, "aws:apigateway/stage:Stage")["inputs"]
    assert (
        stage["accessLogSettings"]["destinationArn"].startswith("arn:aws:logs:")
        or stage["accessLogSettings"]["destinationArn"]
    )
    settings = one(plan, "aws:apigateway/methodSettings:MethodSettings")["inputs"]["settings"]
    assert settings["throttlingRateLimit"] == 1000 and settings["throttlingBurstLimit"] == 2000


def test_waf_is_attached_with_rate_rule_managed_groups_and_spec_limits(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    acl = one(plan, "aws:wafv2/webAcl:WebAcl")
    association = one(plan, "aws:wafv2/webAclAssociation:WebAclAssociation")
    assert acl["urn"] in association["dependencies"]
    rules = {rule["name"]: rule["statement"] for rule in acl["inputs"]["rules"]}
    assert rules["rate-limit-per-ip"]["rateBasedStatement"]["limit"] == 10000
    assert (
        rules["body-size-limit"]["sizeConstraintStatement"]["size"] == load_gateway_spec(ROOT).max_body_bytes
    )
    assert "AWSManagedRulesCommonRuleSet" in rules and "AWSManagedRulesKnownBadInputsRuleSet" in rules
    anonymous = rules["AWSManagedRulesAnonymousIpList"]["managedRuleGroupStatement"]
    assert anonymous["ruleActionOverrides"] == [
        {"name": "HostingProviderIPList", "actionToUse": {"count": {}}}
    ]


def test_every_method_is_checked_by_the_request_validator(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    validator = one(plan, "aws:apigateway/requestValidator:RequestValidator")
    assert validator["inputs"]["validateRequestParameters"] is True
    methods = of_type(plan, "aws:apigateway/method:Method")
    assert methods and {m["inputs"].get("requestValidatorId") for m in methods} == {validator["id"]}
    assert all(validator["urn"] in m["dependencies"] for m in methods)


def test_one_route_and_listener_per_service(plans: dict[str, Any]) -> None:
    plan = plans["prod"]
    services = plan["outputs"]["services"]
    assert len(of_type(plan, "aws:lb/listener:Listener")) == len(services)
    assert one(plan, "aws:lb/loadBalancer:LoadBalancer")["inputs"]["internal"] is True
    paths = {r["inputs"]["pathPart"] for r in of_type(plan, "aws:apigateway/resource:Resource")}
    assert {"coinbase", "alpaca", "kraken", "accounts", "transfers", "ledger"} <= paths


def test_access_logs_keep_their_own_retention_not_the_audit_span(plans: dict[str, Any]) -> None:
    groups = {
        g["inputs"]["name"]: g["inputs"] for g in of_type(plans["prod"], "aws:cloudwatch/logGroup:LogGroup")
    }
    assert groups["/walletops/prod/api-gateway/access"]["retentionInDays"] == 400
    assert groups["aws-waf-logs-wallet-prod"]["retentionInDays"] == 400
    assert groups["/walletops/prod/audit"]["retentionInDays"] == 2557
