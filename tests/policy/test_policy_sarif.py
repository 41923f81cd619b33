"""SARIF 2.1.0 output (infra/policy/sarif.py): the structure GitHub code scanning requires."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from policy_world import BREAKAGES, ENV, TODAY, compliant_world

from contracts.plan_graph import PlanGraph
from infra.policy.engine import evaluate_plan
from infra.policy.model import all_rules, rules_by_id
from infra.policy.sarif import line_of, module_of, to_sarif
from infra.policy.waivers import WAIVERS_FILE, load_waivers


def _sarif(tmp_path: Path) -> tuple[dict[str, Any], PlanGraph]:
    world = compliant_world()
    for rule_id in ("WO-RDS-002", "WO-EBS-001", "WO-VPC-002", "WO-K8S-009"):
        BREAKAGES[rule_id](world)
    plan = PlanGraph.from_document(
        {"format": 1, "environments": {ENV: {"region": "eu-west-1", "resources": world}}}
    )
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "network.py").write_text("# component module\n")
    (tmp_path / WAIVERS_FILE).write_text(
        yaml.safe_dump(
            {
                "waivers": [
                    {
                        "rule": "WO-K8S-009",
                        "resource": "wallet",
                        "env": "prod",
                        "reason": "image tag pinned by digest at deploy time",
                        "approved_by": "platform-team",
                        "expires": "2027-03-01",
                    }
                ]
            }
        )
    )
    waivers = load_waivers(tmp_path / WAIVERS_FILE, set(rules_by_id()), TODAY)
    report = evaluate_plan(plan, waivers=waivers, today=TODAY)
    return json.loads(json.dumps(to_sarif(report, plan, tmp_path, "0.1.0"))), plan


def test_sarif_log_is_structurally_valid_for_code_scanning(tmp_path: Path) -> None:
    log, _plan = _sarif(tmp_path)
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] and driver["semanticVersion"] == "0.1.0"
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids == [rule.id for rule in all_rules()]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning")
        assert re.fullmatch(r"[0-9]+\.[0-9]", rule["properties"]["security-severity"])
    assert len(run["results"]) == 4
    for result in run["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        assert result["message"]["text"]
        [location] = result["locations"]
        physical = location["physicalLocation"]
        assert not physical["artifactLocation"]["uri"].startswith("/")
        assert physical["region"]["startLine"] >= 1
        assert result["partialFingerprints"]["walletopsFinding/v1"]


def test_results_point_at_component_module_or_stack_file_and_keep_waivers(tmp_path: Path) -> None:
    log, _plan = _sarif(tmp_path)
    results = {r["ruleId"]: r for r in log["runs"][0]["results"]}
    assert results["WO-RDS-002"]["level"] == "error"
    assert (
        results["WO-RDS-002"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == "Pulumi.prod.yaml"
    )
    assert (
        results["WO-EBS-001"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == "Pulumi.prod.yaml"
    )
    flow = results["WO-VPC-002"]["locations"][0]
    assert flow["physicalLocation"]["artifactLocation"]["uri"] == "infra/network.py"
    assert flow["logicalLocations"][0]["fullyQualifiedName"].endswith("::wallet-prod-vpc")
    waived = results["WO-K8S-009"]
    assert waived["suppressions"][0]["kind"] == "external"
    assert "pinned by digest" in waived["suppressions"][0]["justification"]
    assert "suppressions" not in results["WO-RDS-002"]


def test_module_of_walks_up_to_the_outermost_component(tmp_path: Path) -> None:
    (tmp_path / "infra").mkdir()
    (tmp_path / "infra" / "data.py").write_text("")
    by_urn = {
        "c": {"type": "walletops:data:Data", "parent": None},
        "s": {"type": "walletops:data:Secrets", "parent": "c"},
        "r": {"type": "aws:secretsmanager/secret:Secret", "parent": "s"},
    }
    assert module_of("r", by_urn, tmp_path) == "infra/data.py"
    assert module_of("r", by_urn, None) is None
    assert module_of("missing", by_urn, tmp_path) is None


def test_results_point_at_the_line_that_creates_the_resource() -> None:
    program = (
        "class Data:\n    def build(self):\n        x = 1\n"
        '        self.db = aws.rds.Instance(\n            self.name("ledger"),\n'
    )
    assert line_of(program, "wallet-prod-ledger", "aws:rds/instance:Instance", "prod") == 5
    assert line_of(program, "wallet-prod-replica", "aws:rds/instance:Instance", "prod") == 4
    assert line_of(program, "wallet-prod-m-accounts-get", "aws:apigateway/method:Method", "prod") == 1
    routes = 'def f():\n    for r in routes:\n        Method(f"m-{r}-get", ...)\n'
    assert line_of(routes, "wallet-dev-m-accounts-get", "aws:apigateway/method:Method", "dev") == 3
