"""``walletops policy`` end to end (walletops/cli_policy.py): exit codes, table, JSON, SARIF, waivers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from policy_world import BREAKAGES, ENV, compliant_world

from contracts.plan_graph import PlanGraph
from contracts.project import ENVIRONMENTS
from infra.policy.model import all_rules

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _walletops(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("walletops")), *args]
    env = os.environ | {"COLUMNS": "200"}
    return subprocess.run(
        command, capture_output=True, text=True, cwd=PROJECT_DIR, env=env, timeout=300, check=False
    )


def _save(tmp_path: Path, world: list[dict[str, Any]], name: str = "plan.json") -> Path:
    path = tmp_path / name
    plan = {"format": 1, "environments": {ENV: {"region": "eu-west-1", "resources": world, "outputs": {}}}}
    path.write_text(json.dumps(plan))
    return path


def _broken(*rule_ids: str) -> list[dict[str, Any]]:
    world = compliant_world()
    for rule_id in rule_ids:
        BREAKAGES[rule_id](world)
    return world


def _waiver_file(tmp_path: Path, expires: date) -> Path:
    path = tmp_path / "waivers.yaml"
    waiver = {
        "rule": "WO-RDS-002",
        "resource": "ledger",
        "env": "prod",
        "reason": "public endpoint during the vendor migration",
        "approved_by": "security-team",
        "expires": expires.isoformat(),
    }
    path.write_text(yaml.safe_dump({"waivers": [waiver]}))
    return path


def test_clean_plan_exits_0_and_json_lists_every_rule_with_its_verdict(tmp_path: Path) -> None:
    result = _walletops("policy", "--plan", str(_save(tmp_path, compliant_world())), "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["mandatory_failures"] == 0
    rules = document["environments"][ENV]["rules"]
    assert [r["id"] for r in rules] == [rule.id for rule in all_rules()]
    assert {r["verdict"] for r in rules} == {"passed"}
    assert len(document["rules"]) == len(all_rules()) and all(r["controls"] for r in document["rules"])


def test_mandatory_failure_exits_1_and_the_table_groups_by_resource(tmp_path: Path) -> None:
    plan = _save(tmp_path, _broken("WO-RDS-002", "WO-RDS-006", "WO-K8S-009"))
    result = _walletops("policy", "--plan", str(plan))
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if "WO-RDS-00" in line]
    assert len(lines) == 2 and "ledger" in lines[0] and "ledger" not in lines[1]
    assert "FAIL: 2 mandatory" in result.stdout
    assert "policy verdicts" in result.stdout


def test_waived_finding_shows_as_waived_and_passes(tmp_path: Path) -> None:
    plan = _save(tmp_path, _broken("WO-RDS-002"))
    waivers = _waiver_file(tmp_path, date.today() + timedelta(days=30))
    result = _walletops("policy", "--plan", str(plan), "--waivers", str(waivers))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "waived" in result.stdout and "vendor migration" in result.stdout


def test_expired_waiver_fails(tmp_path: Path) -> None:
    plan = _save(tmp_path, _broken("WO-RDS-002"))
    waivers = _waiver_file(tmp_path, date.today() - timedelta(days=1))
    result = _walletops("policy", "--plan", str(plan), "--waivers", str(waivers), "--format", "json")
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["waivers"]["expired"][0]["rule"] == "WO-RDS-002"
    [rds] = [r for r in document["environments"][ENV]["rules"] if r["id"] == "WO-RDS-002"]
    assert rds["verdict"] == "failed" and rds["findings"][0]["expired_waiver"]["reason"]


def test_sarif_to_file(tmp_path: Path) -> None:
    out = tmp_path / "out" / "policy.sarif"
    result = _walletops(
        "policy", "--plan", str(_save(tmp_path, _broken("WO-S3-004"))), "-f", "sarif", "-o", str(out)
    )
    assert result.returncode == 1
    log = json.loads(out.read_text())
    assert log["version"] == "2.1.0" and log["runs"][0]["results"][0]["ruleId"] == "WO-S3-004"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "md"], "allowed: table, json, sarif"),
        (["--env", "staging"], "unknown environment"),
        (["--env", "dev"], "not in"),
        (["--waivers", "/nonexistent/waivers.yaml"], "file not found"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = _walletops("policy", "--plan", str(_save(tmp_path, compliant_world())), *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_missing_or_malformed_plan_exits_2(tmp_path: Path) -> None:
    assert _walletops("policy", "--plan", str(tmp_path / "none.json")).returncode == 2
    (tmp_path / "bad.json").write_text("{}")
    assert "not a plan" in _walletops("policy", "--plan", str(tmp_path / "bad.json")).stderr


@pytest.mark.slow
@pytest.mark.xdist_group("policy-real-plan")
def test_demo_command_over_the_saved_real_plan_exits_0(real_plan: PlanGraph, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    saved.write_text(real_plan.to_json())
    result = _walletops("policy", "--plan", str(saved), "--format", "table")
    assert result.returncode == 0, result.stdout[-3000:]
    summary = result.stdout[result.stdout.index("policy verdicts") :]
    for env in ENVIRONMENTS:
        assert f"│ {env}" in summary
    assert "PASS: 0 mandatory" in result.stdout


def test_scanners_run_beside_the_rules_and_report_their_counts(tmp_path: Path) -> None:
    from scanner_worlds import deployment, role_policy

    world = compliant_world()
    flawed = role_policy("iam:*")
    flawed["urn"] = flawed["urn"].replace("urn:pulumi:dev::", f"urn:pulumi:{ENV}::")
    manifest = deployment()
    manifest["urn"] = manifest["urn"].replace("urn:pulumi:dev::", f"urn:pulumi:{ENV}::")
    plan = _save(tmp_path, [*world, flawed, manifest])
    out = tmp_path / "report.json"
    result = _walletops(
        "policy",
        "--env",
        ENV,
        "--plan",
        str(plan),
        "--scanners",
        "parliament,kubernetes",
        "--format",
        "json",
        "--output",
        str(out),
        "--project-dir",
        str(PROJECT_DIR),
    )
    assert result.returncode == 1, result.stderr
    report = json.loads(out.read_text())
    counts = report["scanners"][ENV]
    manifests = sum(r["type"].startswith("kubernetes:") and "/" in r["type"] for r in [*world, manifest])
    # custom resources (ECK's, cert-manager's) have no core schema: waived known-kind
    custom = sum(any(g in r["type"] for g in (".k8s.elastic.co/", "cert-manager.io/")) for r in world)
    assert custom == 5
    expected = {"run": manifests, "passed": manifests - custom, "failed": 0, "waived": custom}
    assert counts["kubernetes"] == expected
    assert counts["parliament"]["failed"] >= 2
    failed = {rule["id"] for rule in report["environments"][ENV]["rules"] if rule["verdict"] == "failed"}
    assert {"parliament:PRIVILEGE_ESCALATION", "parliament:RESOURCE_STAR"} <= failed
    sarif = tmp_path / "report.sarif"
    _walletops(
        "policy",
        "--env",
        ENV,
        "--plan",
        str(plan),
        "--scanners",
        "parliament",
        "--format",
        "sarif",
        "--output",
        str(sarif),
        "--project-dir",
        str(PROJECT_DIR),
    )
    run = json.loads(sarif.read_text())["runs"][0]
    assert "parliament:PRIVILEGE_ESCALATION" in {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert "parliament:PRIVILEGE_ESCALATION" in {r["ruleId"] for r in run["results"]}
    bad = _walletops("policy", "--env", ENV, "--plan", str(plan), "--scanners", "tfsec")
    assert bad.returncode == 2 and "allowed: checkov, parliament, kubernetes" in bad.stderr
