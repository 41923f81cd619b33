"""``walletops pipeline STEP``: the CI/CD steps, the same on a laptop and in the GitHub workflows.

Each command is thin: it gathers inputs (and, where a step needs another area, computes that here
through :mod:`walletops.pipeline_wiring`), calls the step's function in :mod:`pipelines`, prints a
summary table (or ``--format json``) and exits 1 when the step failed, 2 on bad input.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from contracts.errors import UsageProblem
from contracts.output import Format, console, err_console, to_json, write_text
from contracts.project import ENVIRONMENTS, resolve_project_dir
from pipelines.results import CheckResult, Status, StepResult
from walletops.options import Output, ProjectDir

app = typer.Typer(
    help="CI/CD steps: review, build, deploy, smoke, gate, promote, rollback, drift, run.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table or json.")]
StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="The pipeline's state folder (default: <project>/.state/pipeline).",
        file_okay=False,
    ),
]
STYLE = {Status.passed: "green", Status.failed: "bold red", Status.not_run: "yellow"}


def _formats(fmt: Format, allowed: tuple[Format, ...]) -> None:
    if fmt not in allowed:
        raise UsageProblem(f"--format {fmt.value}: allowed: {', '.join(f.value for f in allowed)}")


def _env(value: str, option: str = "--env") -> str:
    if value not in ENVIRONMENTS:
        raise UsageProblem(f"{option} {value!r}: unknown environment; allowed: {', '.join(ENVIRONMENTS)}")
    return value


def _progress(message: str) -> None:
    err_console.print(f"[dim]… {escape(message)}[/dim]")


def render(result: StepResult, fmt: Format, output: Path | None, findings: int = 40) -> None:
    """The step's summary table (checks, then findings, then artefacts) or its JSON document."""
    if fmt is Format.json:
        write_text(to_json(result.to_document()), output)
    else:
        table = Table(title=f"pipeline {result.step}: {result.status.value} in {result.seconds:.1f} s")
        for column in ("check", "status", "seconds", "summary"):
            table.add_column(column, overflow="fold")
        for check in result.checks:
            table.add_row(
                check.name,
                f"[{STYLE[check.status]}]{check.status.value}[/]",
                f"{check.seconds:.1f}",
                escape(check.summary),
            )
        target = console if output is None else None
        shown = [f for f in result.findings if f.severity != "note"]
        details = Table(title=f"findings ({len(shown)})") if shown else None
        if details is not None:
            for column in ("tool", "rule", "where", "message"):
                details.add_column(column, overflow="fold")
            for finding in shown[:findings]:
                details.add_row(finding.tool, finding.rule, escape(finding.location), escape(finding.message))
            if len(shown) > findings:
                details.add_row("…", "", "", f"{len(shown) - findings} more (--format json)")
        artefacts = Table(title="artefacts") if result.artefacts else None
        if artefacts is not None:
            artefacts.add_column("artefact")
            artefacts.add_column("where", overflow="fold")
            for name, where in sorted(result.artefacts.items()):
                artefacts.add_row(name, escape(where))
        if target is not None:
            for part in (table, details, artefacts):
                if part is not None:
                    target.print(part)
        else:
            from rich.console import Console

            assert output is not None
            output.parent.mkdir(parents=True, exist_ok=True)
            with output.open("w", encoding="utf-8") as handle:
                file_console = Console(file=handle, width=160)
                for part in (table, details, artefacts):
                    if part is not None:
                        file_console.print(part)
            err_console.print(f"wrote {output}")
    if result.status is Status.failed:
        raise typer.Exit(1)


@app.command("review")
def review(
    *,
    fmt: FormatOption = Format.table,
    output: Output = None,
    sarif: Annotated[
        Path | None, typer.Option("--sarif", help="Also write every finding as SARIF 2.1.0.")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option("--markdown", help="Also write the pull-request comment (Markdown).")
    ] = None,
    plan_file: Annotated[
        Path | None, typer.Option("--plan", help="Review this saved plan instead of planning now.")
    ] = None,
    base_plan: Annotated[
        Path | None, typer.Option("--base-plan", help="The base branch's plan for the cost diff.")
    ] = None,
    base_ref: Annotated[
        str | None, typer.Option("--base-ref", help="Plan this git ref for the cost diff (e.g. origin/main).")
    ] = None,
    audit: Annotated[bool, typer.Option("--audit/--no-audit", help="Run pip-audit on the locks.")] = True,
    project_dir: ProjectDir = None,
) -> None:
    """Every automated check before a build: linters, scanners, workflow checks, policy, cost diff."""
    from pipelines.review import markdown as to_markdown
    from pipelines.review import review as run_review
    from pipelines.sarif import to_sarif
    from walletops import pipeline_wiring as wiring

    _formats(fmt, (Format.table, Format.json, Format.md, Format.sarif))
    if base_plan is not None and base_ref is not None:
        raise UsageProblem("--base-plan and --base-ref: give one of them")
    root = resolve_project_dir(project_dir)
    _progress("planning for policy and manifests")
    graph, sources = wiring.plan_for_review(root, plan_file)
    base = None
    if base_plan is not None:
        from contracts.plan_graph import read_plan

        base = read_plan(base_plan, "--base-plan")
    elif base_ref is not None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="walletops-base-plan-") as tmp:
            _progress(f"planning {base_ref} for the cost diff")
            from contracts.plan_graph import read_plan

            base = read_plan(wiring.base_plan(root, base_ref, Path(tmp) / "base.json"), "--base-ref")
    cost_markdown: list[str] = []

    def extra() -> list[CheckResult]:
        return wiring.review_extra(root, graph, sources, base, cost_markdown)

    result = run_review(
        root,
        tools=wiring.tools_dir(),
        manifests=wiring.manifests_of(graph),
        extra=extra,
        audit=audit,
        progress=_progress,
    )
    comment = to_markdown(result, cost_markdown[0] if cost_markdown else None)
    if sarif is not None:
        write_text(json.dumps(to_sarif(result), indent=2) + "\n", sarif)
    if markdown is not None:
        write_text(comment, markdown)
    if fmt is Format.sarif:
        write_text(json.dumps(to_sarif(result), indent=2) + "\n", output)
    elif fmt is Format.md:
        write_text(comment, output)
    if fmt in (Format.sarif, Format.md):
        if result.status is Status.failed:
            raise typer.Exit(1)
        return
    render(result, fmt, output)


Step = Callable[..., StepResult]
