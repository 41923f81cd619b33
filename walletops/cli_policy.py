"""``walletops policy`` (guardrails over the plan graph) and ``walletops audit`` (posture of a live account).

``policy`` exits 1 when a mandatory rule fails unwaived in any environment or a waiver has expired;
``audit`` exits 1 when any check finds a non-compliant resource. Bad input exits 2.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contracts.errors import UsageProblem
from contracts.output import Format, console, err_console, to_json, write_text
from contracts.project import expand_envs, find_project_dir, resolve_project_dir
from walletops.options import Env, Output, ProjectDir
from walletops.orchestration import plan_or_read

if TYPE_CHECKING:
    from contracts.plan_graph import PlanGraph
    from infra.audit.checks import AuditReport
    from infra.policy.engine import Report

STATUS_STYLE = {"failed": "bold red", "waived": "yellow", "passed": "green", "not-applicable": "dim"}


def _project_root(project_dir: Path | None, plan_file: Path | None) -> Path | None:
    """The project folder; with a saved plan it is optional (no configs or waivers file then)."""
    if project_dir is not None or plan_file is None:
        return resolve_project_dir(project_dir)
    try:
        return find_project_dir()
    except UsageProblem:
        return None


def build_report(
    env: str,
    plan_file: Path | None,
    project_dir: Path | None,
    waivers_file: Path | None,
    today: date | None = None,
    *,
    scanners: tuple[str, ...] = (),
) -> tuple[Report, PlanGraph, Path | None]:
    """Plan (or load) the environments, load their configs and the waivers, evaluate every rule and
    run the named scanners."""
    from contracts.config import load_all
    from infra.policy.engine import evaluate_plan
    from infra.policy.model import rules_by_id
    from infra.policy.waivers import NO_WAIVERS, WAIVERS_FILE, load_waivers

    day = today or date.today()
    root = _project_root(project_dir, plan_file)
    plan = plan_or_read(env, plan_file, root)
    configs = load_all(root, plan.names) if root is not None else {}
    known = set(rules_by_id())
    if waivers_file is not None:
        waivers = load_waivers(waivers_file, known, day, required=True)
    elif root is not None:
        waivers = load_waivers(root / WAIVERS_FILE, known, day)
    else:
        waivers = NO_WAIVERS
    report = evaluate_plan(plan, waivers=waivers, today=day, configs=configs)
    if scanners:
        from infra.policy.engine import scanner_results
        from infra.policy.scanners import run_scanners

        versions = {name: c.kubernetes.version for name, c in configs.items() if c.kubernetes is not None}
        with err_console.status(f"running {', '.join(scanners)} over {', '.join(plan.names)}"):
            checks = run_scanners(plan, scanners, kubernetes_versions=versions)
        report.results.extend(scanner_results(checks, plan, waivers=waivers, today=day))
        report.scanners = scanners
    return report, plan, root


def report_json(report: Report) -> dict[str, Any]:
    """Every rule evaluated, its verdict per environment, the findings and the waivers."""
    from contracts.frameworks import spelled
    from infra.policy.model import all_rules

    environments: dict[str, Any] = {}
    for env in report.envs:
        results = [r for r in report.results if r.env == env]
        environments[env] = {
            "summary": report.summary()[env],
            "rules": [
                {
                    "id": r.rule.id,
                    "severity": r.rule.severity.value,
                    "verdict": r.verdict,
                    "checked": r.checked,
                    "not_applicable_reason": r.not_applicable_reason
                    if r.verdict == "not-applicable"
                    else None,
                    "findings": [f.to_dict() for f in r.findings],
                }
                for r in results
            ],
        }
    return {
        "format": 1,
        "date": report.today.isoformat(),
        "scanners": report.scanner_summary(),
        "ok": report.ok,
        "mandatory_failures": len(report.mandatory_failures),
        "waivers": {
            "source": report.waivers.source,
            "expired": [w.model_dump(mode="json") for w in report.expired_waivers],
            "unused": [w.model_dump(mode="json") for w in report.unused_waivers()],
        },
        "rules": [
            {
                "id": rule.id,
                "title": rule.title,
                "severity": rule.severity.value,
                "controls": list(rule.controls),
                "frameworks": spelled(rule.controls),
                "remediation": rule.remediation,
                "scope": rule.scope,
                "types": list(rule.types),
            }
            for rule in [*all_rules(), *(r for r in report.rules if r.area in report.scanners)]
        ],
        "environments": environments,
    }


def print_report(report: Report, out: Console) -> None:
    """Findings grouped by resource, then the per-environment summary and the waiver notes."""
    grouped: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for finding in report.findings:
        grouped[(finding.env, finding.name or "(stack)")].append(finding)
    if grouped:
        table = Table(title="findings by resource")
        for column in ("env", "resource", "rule", "severity", "status", "finding"):
            table.add_column(column, overflow="fold")
        for (env, name), findings in sorted(grouped.items()):
            ordered = sorted(findings, key=lambda f: f.rule_id)
            for position, finding in enumerate(ordered):
                note = finding.message
                if finding.waiver is not None:
                    note += f"\n(waived until {finding.waiver.expires}: {finding.waiver.reason})"
                if finding.expired_waiver is not None:
                    note += f"\n(waiver EXPIRED {finding.expired_waiver.expires})"
                first = position == 0
                table.add_row(
                    env if first else "",
                    escape(name) if first else "",
                    finding.rule_id,
                    finding.severity.value,
                    f"[{STATUS_STYLE[finding.status]}]{finding.status}[/]",
                    escape(note),
                    end_section=position == len(ordered) - 1,
                )
        out.print(table)
    summary = Table(title=f"policy verdicts ({len({r.rule.id for r in report.results})} rules)")
    for column in ("env", "passed", "failed mandatory", "failed advisory", "waived", "not applicable"):
        summary.add_column(column, justify="right" if column != "env" else "left")
    for env, counts in report.summary().items():
        summary.add_row(
            env,
            str(counts["passed"]),
            f"[bold red]{counts['failed-mandatory']}[/]" if counts["failed-mandatory"] else "0",
            f"[yellow]{counts['failed-advisory']}[/]" if counts["failed-advisory"] else "0",
            str(counts["waived"]),
            str(counts["not-applicable"]),
        )
    out.print(summary)
    if report.scanners:
        scanned = Table(title="scanner checks (check x subject)")
        for column in ("env", "scanner", "run", "passed", "failed", "waived"):
            scanned.add_column(column, justify="left" if column in ("env", "scanner") else "right")
        for env, by_scanner in report.scanner_summary().items():
            for scanner, numbers in by_scanner.items():
                failed = numbers["failed"]
                scanned.add_row(
                    env,
                    scanner,
                    str(numbers["run"]),
                    str(numbers["passed"]),
                    f"[bold red]{failed}[/]" if failed else "0",
                    str(numbers["waived"]),
                )
        out.print(scanned)
    for waiver in report.expired_waivers:
        out.print(
            f"[bold red]expired waiver[/] {waiver.rule} {waiver.resource} ({waiver.env}): {waiver.expires}"
        )
    for waiver in report.unused_waivers():
        out.print(
            f"[yellow]unused waiver[/] {waiver.rule} {escape(waiver.resource)} ({waiver.env}): remove it"
        )
    verdict = "[green]PASS[/]" if report.ok else "[bold red]FAIL[/]"
    out.print(f"{verdict}: {len(report.mandatory_failures)} mandatory finding(s) unwaived")


def _version() -> str:
    try:
        return version("walletops")
    except PackageNotFoundError:
        return "0.0.0"


def policy(  # noqa: PLR0917 (typer maps each parameter to an option)
    env: Env = "all",
    plan_file: Annotated[
        Path | None,
        typer.Option("--plan", help="A saved plan (walletops plan --format json) instead of planning."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, json or sarif.")] = Format.table,
    output: Output = None,
    waivers_file: Annotated[
        Path | None,
        typer.Option("--waivers", help="Waiver file (default: policy-waivers.yaml in the project)."),
    ] = None,
    project_dir: ProjectDir = None,
    scanners: Annotated[
        str | None,
        typer.Option(
            "--scanners",
            help="Also run these scanners, comma-separated: checkov, parliament, kubernetes (offline).",
        ),
    ] = None,
) -> None:
    """Evaluate the guardrails over the plan of one or all environments; exit 1 on a mandatory failure."""
    from infra.policy.scanners import parse_scanners

    if fmt not in (Format.table, Format.json, Format.sarif):
        raise UsageProblem(f"--format {fmt.value}: allowed: table, json, sarif")
    chosen = parse_scanners(scanners) if scanners is not None else ()
    report, plan, root = build_report(env, plan_file, project_dir, waivers_file, scanners=chosen)
    if fmt is Format.json:
        write_text(to_json(report_json(report)), output)
    elif fmt is Format.sarif:
        from infra.policy.sarif import to_sarif

        write_text(to_json(to_sarif(report, plan, root, _version())), output)
    elif output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("w", encoding="utf-8") as handle:
            print_report(report, Console(file=handle, width=160))
        err_console.print(f"wrote {output}")
    else:
        print_report(report, console)
    if not report.ok:
        raise typer.Exit(1)


def policy_pack(
    check: Annotated[
        bool, typer.Option("--check", help="Only report whether the copy is current; exit 1 if not.")
    ] = False,
    project_dir: ProjectDir = None,
) -> None:
    """Refresh the CrossGuard pack's self-contained copy of the rules, waivers and configs."""
    from infra.policy import publish

    root = resolve_project_dir(project_dir)
    stale = publish.drift(root)
    if check:
        for name in stale:
            console.print(f"stale: {publish.PACK_DIR / name}")
        if stale:
            err_console.print("the CrossGuard pack's copy is stale: run `walletops policy-pack`")
            raise typer.Exit(1)
        console.print(f"{publish.PACK_DIR}: current")
        return
    publish.write(root)
    console.print(f"{publish.PACK_DIR}: {len(stale)} file(s) refreshed")


def print_audit(report: AuditReport, out: Console) -> None:
    """One row per check and resource, failures first, then the verdict."""
    from infra.audit.checks import CHECKS, short_error

    table = Table(title=f"posture audit {report.region}" + (f" (env {report.env})" if report.env else ""))
    multi = len(report.regions) > 1
    for column in ("check", "title", *(("region",) if multi else ()), "resource", "status", "detail"):
        table.add_column(column, overflow="fold")
    titles = {c.id: c.title for c in CHECKS}
    order = {"error": 0, "fail": 1, "pass": 2}
    for result in sorted(report.results, key=lambda r: (order[r.status], r.check, r.resource)):
        style = {"pass": "green", "fail": "bold red", "error": "bold magenta"}[result.status]
        detail = short_error(result.detail) if result.status == "error" else result.detail
        table.add_row(
            result.check,
            titles[result.check],
            *((result.region,) if multi else ()),
            escape(result.resource),
            f"[{style}]{result.status}[/]",
            escape(detail),
        )
    out.print(table)
    checked = {r.check for r in report.results}
    idle = [c.id for c in CHECKS if c.id not in checked and (report.only is None or c.id in report.only)]
    if idle:
        out.print(f"nothing to check for: {', '.join(idle)}")
    if any(r.status == "error" for r in report.results):
        out.print("API errors are shortened here; --format json has them in full")
    verdict = "[green]PASS[/]" if report.ok else "[bold red]FAIL[/]"
    out.print(f"{verdict}: {len(report.failures)} finding(s) in {len(report.results)} result(s)")


def audit(  # noqa: PLR0917 (typer maps each parameter to an option)
    region: Annotated[
        str,
        typer.Option(
            "--region",
            "-r",
            help="AWS region(s) to audit: eu-west-1, a comma-separated list, or all (enabled regions).",
        ),
    ],
    endpoint_url: Annotated[
        str | None, typer.Option("--endpoint-url", help="Alternative AWS endpoint (e.g. moto on loopback).")
    ] = None,
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="Only resources tagged environment=ENV.")
    ] = None,
    checks: Annotated[
        list[str] | None, typer.Option("--check", help="Run only this check id (repeatable).")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, json or sarif.")] = Format.table,
    output: Output = None,
) -> None:
    """Audit a live AWS account with boto3; exit 1 when any check finds a non-compliant resource."""
    import re

    from infra.audit.checks import CHECKS, Account, enabled_regions, run_audit_regions

    if fmt not in (Format.table, Format.json, Format.sarif):
        raise UsageProblem(f"--format {fmt.value}: allowed: table, json, sarif")
    regions = [part.strip() for part in region.split(",") if part.strip()]
    bad = [r for r in regions if r != "all" and not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]", r)]
    if bad or not regions or ("all" in regions and len(regions) > 1):
        raise UsageProblem(
            f"--region {region!r}: not an AWS region name; allowed: e.g. eu-west-1, a list, or all"
        )
    if env is not None:
        expand_envs(env)
        if env == "all":
            raise UsageProblem("--env all: give one environment, or leave --env out to audit everything")
    if endpoint_url is not None and not re.fullmatch(r"https?://[^\s/]+(/.*)?", endpoint_url):
        raise UsageProblem(
            f"--endpoint-url {endpoint_url!r}: allowed: an http(s) URL, e.g. http://127.0.0.1:5000"
        )
    known = [c.id for c in CHECKS]
    unknown = [c for c in checks or [] if c not in known]
    if unknown:
        raise UsageProblem(f"--check {', '.join(unknown)}: unknown; allowed: {', '.join(known)}")
    home = "us-east-1" if regions == ["all"] else regions[0]
    account = Account(home, endpoint_url, env)
    if account.session.get_credentials() is None:
        raise UsageProblem(
            "no AWS credentials found; set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(credentials of an audit role)"
        )
    if regions == ["all"]:
        regions = enabled_regions(account)
    report = run_audit_regions(regions, checks or None, endpoint_url=endpoint_url, env=env)
    if fmt is Format.json:
        write_text(to_json(report.to_dict()), output)
    elif fmt is Format.sarif:
        from infra.audit.sarif import audit_sarif

        write_text(to_json(audit_sarif(report, _version())), output)
    elif output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("w", encoding="utf-8") as handle:
            print_audit(report, Console(file=handle, width=160))
        err_console.print(f"wrote {output}")
    else:
        print_audit(report, console)
    if not report.ok:
        raise typer.Exit(1)
