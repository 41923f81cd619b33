"""The AWS rendering (infra/gateway.py, read from the offline plan) enforces the same effective rules as
the nginx rendering and the in-process gateway: same consumers with the same rate, burst and daily
quota, the same routes with the same methods, an API key on every method."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from contracts.config import load_environment
from contracts.gateway_rules import EffectiveRules, effective_rules
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
        path = urlsplit(integration["inputs"]["uri"]).path.removesuffix("/{proxy}")
        rendered.add((path, integration["inputs"]["httpMethod"]))
    assert rendered == {(route.path_prefix, method) for route in rules.routes for method in route.methods}
    methods = _of_type(resources, "method:Method")
    assert methods and all(m["inputs"]["apiKeyRequired"] is True for m in methods)
