"""Where the pipeline steps meet the other areas: plans, policy verdicts, cost diff, local stack, load gate.

``pipelines`` is an area like ``cost`` or ``loadtests``: it does not plan and does not import
another area. The command line does, here, and hands the steps what they need as plain values
and ready :class:`~pipelines.results.CheckResult` objects.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from contracts.config import load_all
from contracts.plan_graph import PlanGraph, read_plan
from contracts.project import ENVIRONMENTS
from pipelines.results import CheckResult, Finding, Status

Sources = dict[str, tuple[str, int]]


def is_walletops_project(root: Path) -> bool:
    """A folder with the four stack files is this project; any other Pulumi folder is planned generically."""
    return all((root / f"Pulumi.{env}.yaml").is_file() for env in ENVIRONMENTS)


def plan_for_review(root: Path, plan_file: Path | None) -> tuple[PlanGraph, Sources]:
    """The plan to review: the project's four environments (planner), or any other Pulumi program."""
    if plan_file is not None:
        return read_plan(plan_file), {}
    if is_walletops_project(root):
        from walletops.orchestration import build_plan

        return build_plan("all", root), {}
    from pipelines.programs import plan_program

    plan, sources = plan_program(root)
    return PlanGraph({plan.name: plan}), sources


def policy_check(graph: PlanGraph, root: Path, sources: Sources, today: date | None = None) -> CheckResult:
    """The guardrails over every planned environment; mandatory failures fail the review."""
    from infra.policy.engine import evaluate_plan
    from infra.policy.model import Severity, rules_by_id
    from infra.policy.sarif import module_of
    from infra.policy.waivers import NO_WAIVERS, WAIVERS_FILE, load_waivers

    started = time.monotonic()
    day = today or date.today()
    project = is_walletops_project(root)
    waivers = load_waivers(root / WAIVERS_FILE, set(rules_by_id()), day) if project else NO_WAIVERS
    configs = load_all(root, graph.names) if project else {}
    report = evaluate_plan(graph, waivers=waivers, today=day, configs=configs)
    findings = []
    for result in report.results:
        for finding in result.findings:
            if finding.status != "failed":
                continue
            file, line = sources.get(finding.urn or "", (None, None))
            if file is None and finding.urn:
                file = module_of(finding.urn, graph[finding.env].by_urn, root if project else None)
            where = f"{finding.env}: {finding.name}: " if finding.name else f"{finding.env}: "
            findings.append(
                Finding(
                    "policy",
                    finding.rule_id,
                    where + finding.message,
                    file or ("Pulumi.yaml" if not project else f"Pulumi.{finding.env}.yaml"),
                    line,
                    "error" if finding.severity is Severity.mandatory else "warning",
                )
            )
    failed = [f for f in findings if f.severity == "error"]
    status = Status.failed if failed else Status.passed
    envs = ", ".join(graph.names)
    summary = (
        f"{len(failed)} mandatory finding(s), {len(findings) - len(failed)} advisory in {envs}"
        if findings
        else f"every rule passes in {envs}"
    )
    return CheckResult("policy", status, summary, findings, time.monotonic() - started)


def base_plan(root: Path, ref: str, out: Path) -> Path:
    """Plan ``ref`` (the base branch) from a temporary worktree, with that tree's code, into ``out``."""
    with tempfile.TemporaryDirectory(prefix="walletops-base-") as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(root), "worktree", "add", "--detach", "--quiet", str(tree), ref],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
        try:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(tree / "services-stub")])}
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "walletops",
                    "plan",
                    "--env",
                    "all",
                    "--format",
                    "json",
                    "--output",
                    str(out),
                    "--project-dir",
                    str(tree),
                ],
                check=True,
                capture_output=True,
                text=True,
                timeout=1800,
                env=env,
                cwd=tree,
            )
        finally:
            subprocess.run(
                ["git", "-C", str(root), "worktree", "remove", "--force", str(tree)],
                capture_output=True,
                check=False,
                timeout=120,
            )
    return out


def cost_diff_check(graph: PlanGraph, root: Path, base: PlanGraph) -> tuple[CheckResult, str]:
    """Monthly cost change of this plan against the base branch's (information, never a failure)."""
    from cost.diff import diff_costs, render_markdown
    from cost.estimator import estimate
    from walletops.cli_cost import usage_for

    started = time.monotonic()
    models = load_all(root, graph.names)
    base_models = load_all(root, [env for env in base.names if env in models]) if base.names else {}
    head_report = estimate(graph, usage_for(models, {}, ""))
    base_report = estimate(base.select(list(base_models)), usage_for(base_models, {}, ""))
    diff = diff_costs(base_report, head_report)
    summary = f"{diff.delta_usd:+,.2f} USD/month against the base branch"
    return CheckResult("cost diff", Status.passed, summary, [], time.monotonic() - started), render_markdown(
        diff
    )


def review_extra(
    root: Path, graph: PlanGraph, sources: Sources, base: PlanGraph | None, cost_markdown: list[str]
) -> list[CheckResult]:
    """Policy over the plan and, for this project with a base plan, the cost diff (its Markdown appended)."""
    checks = [policy_check(graph, root, sources)]
    if base is not None and is_walletops_project(root):
        check, text = cost_diff_check(graph, root, base)
        checks.append(check)
        cost_markdown.append(text)
    return checks


def tools_dir() -> Path:
    """The ``.tools`` folder of this installation (checkov, actionlint), made by scripts/bootstrap."""
    return Path(__file__).resolve().parents[1] / ".tools"


def which(name: str) -> str | None:
    return shutil.which(name)


def manifests_of(graph: PlanGraph) -> dict[str, list[dict[str, Any]]]:
    return {env.name: env.kubernetes_manifests() for env in graph}
