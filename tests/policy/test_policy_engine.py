"""Evaluation and waivers (infra/policy/engine.py, waivers.py), and the real environments' verdicts."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from policy_world import BREAKAGES, ENV, TODAY, compliant_world

from contracts.config import load_all
from contracts.errors import UsageProblem
from contracts.plan_graph import PlanGraph
from contracts.project import ENVIRONMENTS
from infra.policy.engine import evaluate_plan
from infra.policy.model import Severity, all_rules, rules_by_id
from infra.policy.waivers import WAIVERS_FILE, Waivers, load_waivers


def _plan(world: list[dict[str, Any]]) -> PlanGraph:
    document = {
        "format": 1,
        "environments": {ENV: {"region": "eu-west-1", "resources": world, "outputs": {}}},
    }
    return PlanGraph.from_document(document)


def _waiver(**overrides: Any) -> dict[str, Any]:
    return {
        "rule": "WO-RDS-002",
        "resource": "urn:pulumi:prod::*::ledger",
        "env": "prod",
        "reason": "public endpoint during the vendor migration",
        "approved_by": "security-team",
        "expires": date(2027, 1, 31),
    } | overrides


def _waivers(tmp_path: Path, *entries: dict[str, Any], today: date = TODAY) -> Waivers:
    path = tmp_path / WAIVERS_FILE
    path.write_text(yaml.safe_dump({"waivers": list(entries)}))
    return load_waivers(path, set(rules_by_id()), today)


def _broken(rule_id: str) -> list[dict[str, Any]]:
    world = compliant_world()
    BREAKAGES[rule_id](world)
    return world


def test_compliant_world_passes_every_rule() -> None:
    report = evaluate_plan(_plan(compliant_world()), today=TODAY)
    assert report.ok
    assert report.findings == []
    assert report.summary()[ENV]["passed"] == len(all_rules())


def test_mandatory_failure_fails_the_run_and_advisory_does_not() -> None:
    mandatory = evaluate_plan(_plan(_broken("WO-RDS-002")), today=TODAY)
    assert not mandatory.ok
    assert [(f.rule_id, f.name, f.status) for f in mandatory.findings] == [("WO-RDS-002", "ledger", "failed")]
    assert mandatory.summary()[ENV]["failed-mandatory"] == 1
    advisory = evaluate_plan(_plan(_broken("WO-RDS-009")), today=TODAY)
    assert advisory.ok
    assert advisory.summary()[ENV]["failed-advisory"] == 1


def test_waived_finding_is_reported_as_waived_not_hidden(tmp_path: Path) -> None:
    waivers = _waivers(tmp_path, _waiver())
    report = evaluate_plan(_plan(_broken("WO-RDS-002")), waivers=waivers, today=TODAY)
    assert report.ok
    [finding] = report.findings
    assert finding.status == "waived"
    assert finding.waiver is not None and finding.waiver.reason.startswith("public endpoint")
    assert report.summary()[ENV]["waived"] == 1
    assert report.unused_waivers() == []


def test_waiver_matches_by_logical_name_glob_and_environment(tmp_path: Path) -> None:
    by_name = _waivers(tmp_path, _waiver(resource="led*"))
    assert evaluate_plan(_plan(_broken("WO-RDS-002")), waivers=by_name, today=TODAY).ok
    other_env = _waivers(tmp_path, _waiver(env="dev"), _waiver(env="all", rule="WO-RDS-001"))
    report = evaluate_plan(_plan(_broken("WO-RDS-002")), waivers=other_env, today=TODAY)
    assert not report.ok
    assert report.unused_waivers() == []  # dev and "all" are not (fully) evaluated in a prod-only run
    everywhere = {env: {"resources": compliant_world()} for env in ENVIRONMENTS}
    clean = evaluate_plan(
        PlanGraph.from_document({"environments": everywhere}), waivers=other_env, today=TODAY
    )
    assert [w.rule for w in clean.unused_waivers()] == ["WO-RDS-002", "WO-RDS-001"]


def test_expired_waiver_fails_the_run(tmp_path: Path) -> None:
    waivers = _waivers(tmp_path, _waiver(expires=date(2026, 11, 1)))
    report = evaluate_plan(_plan(_broken("WO-RDS-002")), waivers=waivers, today=TODAY)
    assert not report.ok
    [finding] = report.findings
    assert finding.status == "failed" and finding.expired_waiver is not None
    clean = evaluate_plan(_plan(compliant_world()), waivers=waivers, today=TODAY)
    assert not clean.ok and [w.rule for w in clean.expired_waivers] == ["WO-RDS-002"]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (_waiver(rule="WO-XYZ-001"), "no such rule"),
        (_waiver(env="production"), "allowed: dev, qa, stage, prod or all"),
        (_waiver(reason="because"), "at least 15"),
        (_waiver(expires=date(2028, 1, 1)), "reviewed at least yearly"),
        ({k: v for k, v in _waiver().items() if k != "approved_by"}, "approved_by"),
        (_waiver(approved_by="platform-team (issue 16 proposal)"), "is not a role name"),
        (_waiver(owner="me"), "Extra inputs"),
    ],
)
def test_invalid_waivers_are_usage_problems(tmp_path: Path, entry: dict[str, Any], problem: str) -> None:
    with pytest.raises(UsageProblem) as raised:
        _waivers(tmp_path, entry)
    assert any(problem in line and WAIVERS_FILE in line for line in raised.value.problems), (
        raised.value.problems
    )


def test_missing_waiver_file_is_no_waivers_unless_required(tmp_path: Path) -> None:
    assert load_waivers(tmp_path / "absent.yaml", set(), TODAY).items == ()
    with pytest.raises(UsageProblem, match="file not found"):
        load_waivers(tmp_path / "absent.yaml", set(), TODAY, required=True)


def test_repository_waiver_file_is_valid(project_dir: Path) -> None:
    waivers = load_waivers(project_dir / WAIVERS_FILE, set(rules_by_id()), TODAY, required=True)
    assert all(w.reason and w.approved_by for w in waivers.items)


@pytest.mark.slow
@pytest.mark.xdist_group("policy-real-plan")
def test_real_environments_have_zero_mandatory_findings(real_plan: PlanGraph, project_dir: Path) -> None:
    assert real_plan.names == list(ENVIRONMENTS)
    waivers = load_waivers(project_dir / WAIVERS_FILE, set(rules_by_id()), date.today())
    configs = load_all(project_dir, list(ENVIRONMENTS))
    report = evaluate_plan(real_plan, waivers=waivers, configs=configs)
    mandatory = [(f.env, f.rule_id, f.name, f.message) for f in report.mandatory_failures]
    assert mandatory == []
    assert report.expired_waivers == []
    for env in ENVIRONMENTS:
        applied = [r for r in report.results if r.env == env and r.verdict != "not-applicable"]
        assert len(applied) >= 60, env
    assert all(f.severity is Severity.advisory or f.status == "waived" for f in report.findings)


def _scanner_check(passed: bool, subject: str = "wallet-prod-kms-s3 policy") -> Any:
    from infra.policy.scanners import Check

    return Check(
        scanner="parliament",
        check_id="RESOURCE_STAR",
        title="Unnecessary use of Resource *",
        env=ENV,
        urn=f"urn:pulumi:{ENV}::walletops::aws:kms/key:Key::wallet-prod-kms-s3",
        subject=subject,
        passed=passed,
        message="" if passed else "Resource * in a key policy",
    )


def test_scanner_outcomes_become_mandatory_verdicts_with_counts() -> None:
    from infra.policy.engine import Report, scanner_results

    plan = _plan(compliant_world())
    results = scanner_results([_scanner_check(True, "a policy"), _scanner_check(False)], plan, today=TODAY)
    [result] = results
    assert result.rule.id == "parliament:RESOURCE_STAR" and result.rule.area == "parliament"
    assert result.checked == 2 and result.verdict == "failed"
    assert result.findings[0].severity is Severity.mandatory and result.findings[0].name.endswith(" policy")
    report = Report([ENV], results, Waivers((), "test"), TODAY, scanners=("parliament",))
    assert report.scanner_summary()[ENV]["parliament"] == {"run": 2, "passed": 1, "failed": 1, "waived": 0}
    assert not report.ok


def test_a_scanner_waiver_matches_by_check_id_and_subject_and_is_validated(tmp_path: Path) -> None:
    from infra.policy.engine import Report, scanner_results
    from infra.policy.waivers import Waiver

    waiver = Waiver.model_validate(
        _waiver(rule="parliament:RESOURCE_STAR", resource="wallet-*-kms-* policy", env=ENV)
    )
    waivers = Waivers((waiver,), "test")
    plan = _plan(compliant_world())
    [result] = scanner_results([_scanner_check(False)], plan, waivers=waivers, today=TODAY)
    assert result.verdict == "waived" and result.findings[0].waiver == waiver
    report = Report([ENV], [result], waivers, TODAY, scanners=("parliament",))
    assert report.ok and report.scanner_summary()[ENV]["parliament"]["waived"] == 1
    assert Report([ENV], [], waivers, TODAY).unused_waivers() == [], "not judged when the scanner did not run"
    path = tmp_path / WAIVERS_FILE
    path.write_text(yaml.safe_dump({"waivers": [_waiver(rule="tfsec:AWS001")]}))
    with pytest.raises(UsageProblem, match="rule"):
        load_waivers(path, {r.id for r in all_rules()}, TODAY)
