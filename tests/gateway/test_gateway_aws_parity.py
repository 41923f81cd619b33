"""The AWS rendering (infra/gateway.py, read from the offline plan) enforces the same effective rules as
the nginx rendering and the in-process gateway: same consumers with the same rate, burst and daily
quota, the same routes with the same methods, an API key on every method -- and the same verdict for
every request of the parity table (tests/gateway/conftest.py), found by evaluating the planned WAF,
resources, methods, authorizers, integrations and gateway responses the way API Gateway applies them:
WAF rules by priority, then the resource and method, the Cognito authorizer (or SigV4 on operator
routes: an operator consumer signs, others cannot), the API key, and the integration's header mapping."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import pytest
from walletstubs.gateway import problems

from contracts.config import load_environment
from contracts.gateway_rules import NO_USER, EffectiveRules, effective_rules
from contracts.gateway_spec import load_gateway_spec
from infra.planner import plan_environments

PROJECT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _plan_and_rules(env: str) -> tuple[list[dict[str, Any]], EffectiveRules]:
    model = load_environment(env, PROJECT)
    resources = list(plan_environments([model], PROJECT, processes=1)[env].resources)
    return resources, effective_rules(load_gateway_spec(PROJECT), [e.name for e in model.exchanges])


@pytest.fixture(scope="module", params=["dev", "prod"])
def plan_and_rules(request: pytest.FixtureRequest) -> tuple[list[dict[str, Any]], EffectiveRules]:
    return _plan_and_rules(request.param)


def _of_type(resources: list[dict[str, Any]], suffix: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["type"].endswith(suffix)]


def test_usage_plans_carry_each_consumers_rate_burst_and_quota(plan_and_rules) -> None:  # type: ignore[no-untyped-def]
    resources, rules = plan_and_rules
    plans = {p["inputs"]["tags"]["service"]: p["inputs"] for p in _of_type(resources, "usagePlan:UsagePlan")}
    assert set(plans) == {c.name for c in rules.consumers}
    for consumer in rules.consumers:
        plan = plans[consumer.name]
        throttle = {"rateLimit": consumer.rate_per_second, "burstLimit": consumer.burst}
        assert plan["throttleSettings"] == throttle
        assert plan["quotaSettings"] == {"limit": consumer.quota_per_day, "period": "DAY"}


def test_routes_and_methods_match_and_every_method_needs_an_api_key(plan_and_rules) -> None:  # type: ignore[no-untyped-def]
    resources, rules = plan_and_rules
    rendered = set()
    for integration in _of_type(resources, "integration:Integration"):
        if integration["inputs"]["type"] != "HTTP_PROXY":
            continue
        path = urlsplit(integration["inputs"]["uri"]).path.removesuffix("/{proxy}")
        rendered.add((path, integration["inputs"]["httpMethod"]))
    assert rendered == {(route.path_prefix, method) for route in rules.routes for method in route.methods}
    methods = _of_type(resources, "method:Method")
    routed = [m for m in methods if not m["name"].endswith("-m-unrouted")]
    assert routed and all(m["inputs"]["apiKeyRequired"] is True for m in routed)
    assert [m["inputs"]["apiKeyRequired"] for m in methods if m not in routed] == [False]


class AwsGateway:
    """API Gateway + WAF as planned, evaluated for one request of the parity table."""

    def __init__(self, resources: list[dict[str, Any]], rules: EffectiveRules) -> None:
        self.rules = rules
        acl = _of_type(resources, "webAcl:WebAcl")[0]["inputs"]
        self.waf = sorted(acl["rules"], key=lambda rule: rule["priority"])
        self.bodies = {body["key"]: body for body in acl.get("customResponseBodies", [])}
        self.inspection = acl["associationConfig"]["requestBodies"][0]["apiGateway"][
            "defaultSizeInspectionLimit"
        ]
        self.sets = {
            r["name"]: [x["regexString"] for x in r["inputs"]["regularExpressions"]]
            for r in _of_type(resources, "regexPatternSet:RegexPatternSet")
        }
        self.responses = {
            r["inputs"]["responseType"]: int(r["inputs"]["statusCode"])
            for r in _of_type(resources, "response:Response")
        }
        methods = {
            (m["inputs"]["resourceId"], m["inputs"]["httpMethod"]): m["inputs"]
            for m in _of_type(resources, "method:Method")
        }
        self.routes: list[tuple[str, bool, dict[str, tuple[dict[str, Any], dict[str, Any]]]]] = []
        self.mocks: dict[str, int] = {}
        by_resource: dict[str, dict[str, tuple[dict[str, Any], dict[str, Any]]]] = {}
        paths: dict[str, tuple[str, bool]] = {}
        for integration in _of_type(resources, "integration:Integration"):
            inputs = integration["inputs"]
            resource, verb = inputs["resourceId"], inputs["httpMethod"]
            by_resource.setdefault(resource, {})[verb] = (methods[(resource, verb)], inputs)
            if inputs["type"] == "HTTP_PROXY":
                path = urlsplit(inputs["uri"]).path
                paths[resource] = (path.removesuffix("/{proxy}"), path.endswith("/{proxy}"))
            else:
                self.mocks[resource] = json.loads(inputs["requestTemplates"]["application/json"])[
                    "statusCode"
                ]
        self.routes = [
            (prefix, proxied, by_resource[resource]) for resource, (prefix, proxied) in paths.items()
        ]
        self.unrouted = next(r for r, status in self.mocks.items() if status == 404 and r not in paths)

    def answer(
        self, case: Any, *, user: str, token_valid: bool, signed: bool, key_valid: bool
    ) -> tuple[int, dict[str, str]]:
        """The status API Gateway answers ``case`` with, and the headers the service would receive."""
        for rule in self.waf:
            status = self._waf_rule(rule, case)
            if status is not None:
                return status, {}
        route = self._resource(case.path)
        if route is None:
            return 404, {}
        verbs = route
        if case.method not in verbs:
            any_method, _ = verbs["ANY"]
            if any_method["apiKeyRequired"] and not key_valid:
                return self.responses["INVALID_API_KEY"], {}
            return 405, {}
        method, integration = verbs[case.method]
        if method["authorization"] == "COGNITO_USER_POOLS":
            if not token_valid or self.rules.oauth_scope not in method["authorizationScopes"]:
                return self.responses["UNAUTHORIZED"], {}
        elif method["authorization"] == "AWS_IAM" and not signed:
            return self.responses["MISSING_AUTHENTICATION_TOKEN"], {}
        if method["apiKeyRequired"] and not key_valid:
            return self.responses["INVALID_API_KEY"], {}
        sources = {
            "context.identity.apiKeyId": f"key-id-of:{case.consumer}",
            "context.authorizer.claims.sub": user,
        }
        headers = {
            name.removeprefix("integration.request.header."): sources.get(value, value.strip("'"))
            for name, value in integration["requestParameters"].items()
            if name.startswith("integration.request.header.")
        }
        return 200, headers

    def _resource(self, path: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]] | None:
        exact = [verbs for prefix, proxied, verbs in self.routes if not proxied and path == prefix]
        if exact:
            return exact[0]
        below = [
            (len(prefix), verbs)
            for prefix, proxied, verbs in self.routes
            if proxied and path.startswith(prefix + "/")
        ]
        return max(below, key=lambda item: item[0])[1] if below else None

    def _waf_rule(self, rule: dict[str, Any], case: Any) -> int | None:
        statement = rule["statement"]
        if "rateBasedStatement" in statement or "managedRuleGroupStatement" in statement:
            return None
        if "sizeConstraintStatement" in statement:
            limit = int(self.inspection.removeprefix("KB_")) * 1024
            size = statement["sizeConstraintStatement"]["size"]
            matched = case.body_bytes > size or case.body_bytes > limit
        else:
            parts = statement.get("orStatement", {}).get("statements", [statement])
            matched = any(
                self._regex(part["regexPatternSetReferenceStatement"], rule["name"], case) for part in parts
            )
        if not matched:
            return None
        custom = rule["action"]["block"].get("customResponse")
        return int(custom["responseCode"]) if custom else self.responses["WAF_FILTERED"]

    def _regex(self, reference: dict[str, Any], rule_name: str, case: Any) -> bool:
        field = next(iter(reference["fieldToMatch"]))
        text = case.path if field == "uriPath" else case.query
        for transformation in sorted(reference["textTransformations"], key=lambda t: t["priority"]):
            if transformation["type"] == "URL_DECODE":
                text = unquote_plus(text)
            elif transformation["type"] == "LOWERCASE":
                text = text.lower()
        patterns = next(value for name, value in self.sets.items() if name.endswith(rule_name))
        return any(re.search(pattern, text) for pattern in patterns)


@pytest.fixture(scope="module")
def aws_dev() -> tuple[AwsGateway, EffectiveRules]:
    resources, rules = _plan_and_rules("dev")
    return AwsGateway(resources, rules), rules


def test_aws_gives_every_request_of_the_parity_table_the_same_verdict(case, aws_dev, tokens) -> None:  # type: ignore[no-untyped-def]
    gateway, rules = aws_dev
    consumer = rules.consumer(case.consumer) if case.consumer else None
    status, headers = gateway.answer(
        case,
        user=tokens.subject,
        token_valid=case.token == "valid",
        signed=consumer is not None and "operator" in consumer.scopes and not case.wrong_key,
        key_valid=consumer is not None and not case.wrong_key,
    )
    assert status == case.status, case.name
    if status == 200:
        assert headers["X-Consumer"] == f"key-id-of:{case.consumer}"
        assert headers["X-User-Sub"] == (NO_USER if case.token is None else tokens.subject)
        assert headers["X-Api-Key"] == "redacted"


def test_aws_refusals_are_the_local_problem_documents(aws_dev) -> None:  # type: ignore[no-untyped-def]
    gateway, rules = aws_dev
    assert gateway.inspection == "KB_16" and rules.max_body_bytes <= 16 * 1024
    for body in gateway.bodies.values():
        document = json.loads(body["content"])
        local = next(r for r in problems.ALL if r.status == document["status"] and r.slug in document["type"])
        assert body["content"] == local.body().decode()
