"""The four real environments, planned from the real program: every resource is priced or listed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cost_fixtures import price

from contracts.config import load_all
from contracts.estimates import REFRESH_COMMAND, config_digest, estimates_file, load_estimates
from cost.estimator import classify

ROOT = Path(__file__).resolve().parents[2]
ENVS = ("dev", "qa", "stage", "prod")
pytestmark = pytest.mark.slow

PLAN_ONE = """
import json, sys
from pathlib import Path
from contracts.config import load_environment
from infra.planner import plan_in_process
env_plan = plan_in_process(load_environment(sys.argv[1], Path(sys.argv[2])))
print(json.dumps(env_plan.to_document(), default=str))
"""


@pytest.fixture(scope="module")
def plan() -> dict:
    """Each environment planned in its own interpreter (mocks are process-global), two at a time."""
    environments: dict[str, dict] = {}
    for pair in (ENVS[:2], ENVS[2:]):
        running = {
            env: subprocess.Popen(
                [sys.executable, "-c", PLAN_ONE, env, str(ROOT)], cwd=ROOT, stdout=subprocess.PIPE, text=True
            )
            for env in pair
        }
        for env, process in running.items():
            out, _ = process.communicate(timeout=240)
            assert process.returncode == 0, f"planning {env} failed"
            environments[env] = json.loads(out.splitlines()[-1])
    return {"format": 1, "environments": environments}


@pytest.fixture(scope="module")
def report(plan: dict):
    models = load_all(ROOT)
    return price(plan, {name: model.usage for name, model in models.items()})


def test_every_cloud_resource_is_priced_free_or_unpriced_with_a_reason(plan: dict, report):
    for env in ENVS:
        custom = {r["urn"] for r in plan["environments"][env]["resources"] if r["custom"]}
        listed = {i.urn for i in report.environments[env].items} | {
            u.urn for u in report.environments[env].unpriced
        }
        assert custom <= listed, f"{env}: silently dropped {sorted(custom - listed)[:5]}"
        assert all(u.reason for u in report.environments[env].unpriced)


def test_every_type_in_every_plan_is_priced_free_or_unpriced_by_the_tables(plan: dict):
    types = {r["type"] for env in plan["environments"].values() for r in env["resources"] if r["custom"]}
    missing = sorted(t for t in types if classify(t) is None)
    assert not missing, f"add to PRICERS, FREE or UNPRICED in cost/estimator.py: {missing}"


def test_the_prod_nlb_and_the_seven_year_logs_are_priced(report):
    items = report.environments["prod"].items
    nlb = {i.usage_type for i in items if i.type == "aws:lb/loadBalancer:LoadBalancer" and not i.free}
    assert nlb == {"EU-LoadBalancerUsage", "EU-LCUUsage"}
    storage = [i for i in items if i.usage_type == "EU-TimedStorage-ByteHrs" and "2557 days" in i.note]
    assert storage and all(i.first_year < i.monthly_usd for i in storage)


def test_no_resource_type_is_unknown_to_the_cost_model(report):
    unknown = {
        u.type
        for env in report.environments.values()
        for u in env.unpriced
        if "not in the cost model" in u.reason
    }
    assert not unknown


def test_the_always_on_core_is_priced_in_every_environment(report):
    for env in report.environments.values():
        services = {i.usage_type for i in env.items if not i.free}
        assert "EU-AmazonEKS-Hours:perCluster" in services
        assert "EU-NatGateway-Hours" in services
        assert env.monthly_usd > 0
    environments = report.environments
    assert (
        environments["prod"].monthly_usd > environments["stage"].monthly_usd > environments["dev"].monthly_usd
    )


def test_recorded_estimates_match_the_config_and_the_estimate(report):
    recorded = load_estimates(ROOT)["environments"]
    for env in ENVS:
        hint = f"{estimates_file(ROOT)} is stale for {env}: run `{REFRESH_COMMAND}`"
        assert recorded[env]["config_sha256"] == config_digest(ROOT, env), hint
        assert recorded[env]["monthly_usd"] == report.environments[env].monthly_usd, hint
