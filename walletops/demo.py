"""``walletops demo``: the whole toolkit on the embedded defaults, as the README's first command.

Plans all four environments once (every later step reads the saved graph), judges them with the
guardrails, prices them, renders the Elasticsearch/Kibana assets as the requests ``observability
apply`` would send (with the planner's account id, so the snapshot bucket is the plan's), runs the
local stack through a money-moving scenario, then a short smoke load test; prints where every
report and the local stack's logs went.
Each step runs as its own ``walletops`` process (as an engineer would type it), so the load
test's gevent patching stays in its own process. Exit 0 only when every step passed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from contracts.output import console
from contracts.project import resolve_project_dir
from walletops.options import ProjectDir


def _steps(reports: Path, smoke_seconds: int) -> list[tuple[str, list[str]]]:
    from infra.planner import ACCOUNT_ID

    plan = str(reports / "plan.json")
    return [
        ("plan all four environments (once)", ["plan", "--env", "all", "--format", "table", "--save", plan]),
        ("guardrails (policy verdicts)", ["policy", "--plan", plan, "--format", "table"]),
        (
            "policy report (SARIF)",
            ["policy", "--plan", plan, "--format", "sarif", "--output", str(reports / "policy.sarif")],
        ),
        ("monthly cost per environment", ["cost", "--plan", plan, "--format", "table"]),
        (
            "cost report (HTML)",
            ["cost", "--plan", plan, "--format", "html", "--output", str(reports / "cost.html")],
        ),
        (
            "Elasticsearch/Kibana assets as requests (templates, lifecycle, masking, dashboards, rules)",
            [
                "observability",
                "render",
                "--env",
                "all",
                "--account-id",
                ACCOUNT_ID,
                "--output",
                str(reports / "observability"),
            ],
        ),
        ("local stack: transfers, roundup sweep, exchange order, ledger check", ["stack", "demo"]),
        (
            f"{smoke_seconds}-second smoke load test",
            [
                "loadtest",
                "--scenario",
                "smoke",
                "--target",
                "local",
                "--duration",
                f"{smoke_seconds}s",
                "--report-dir",
                str(reports / "loadtest"),
            ],
        ),
    ]


def demo(
    reports: Annotated[
        Path, typer.Option("--reports", help="Folder for every report the demo writes.")
    ] = Path("reports"),
    smoke_seconds: Annotated[int, typer.Option("--smoke-seconds", min=5, max=300)] = 20,
    project_dir: ProjectDir = None,
) -> None:
    """Run the full demo: plan, guardrails, cost, local stack and a smoke load test."""
    root = resolve_project_dir(project_dir)
    reports = (root / reports).resolve() if not reports.is_absolute() else reports
    reports.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, int, float]] = []
    for title, args in _steps(reports, smoke_seconds):
        console.rule(f"[bold]{title}")
        console.print(f"$ walletops {' '.join(args)}", style="dim", markup=False)
        started = time.monotonic()
        code = subprocess.call(
            [sys.executable, "-m", "walletops", *args, "--project-dir", str(root)], cwd=root
        )
        results.append((title, code, time.monotonic() - started))
    summary = Table(title="demo summary")
    summary.add_column("step")
    summary.add_column("result")
    summary.add_column("seconds", justify="right")
    for title, code, seconds in results:
        summary.add_row(title, "ok" if code == 0 else f"FAILED (exit {code})", f"{seconds:.1f}")
    console.print(summary)
    console.print("reports:")
    assets = reports / "observability"
    for path in sorted(reports.rglob("*")):
        listed = path.suffix in {".json", ".html", ".sarif", ".csv"} and assets not in path.parents
        if path.is_file() and listed:
            console.print(f"  {path}", markup=False, highlight=False)
    for folder in sorted(p for p in assets.glob("*") if p.is_dir()):
        count = len(list(folder.glob("*.json")))
        console.print(f"  {folder}/  ({count} Elasticsearch/Kibana requests)", markup=False, highlight=False)
    console.print("local stack logs (ECS NDJSON; send with `walletops observability ship --from DIR`):")
    for logs in (root / ".state" / "stack-demo" / "logs", root / ".state" / "stack" / "logs"):
        if logs.is_dir():
            count = len(list(logs.glob("*.ndjson")))
            console.print(f"  {logs}  ({count} files)", markup=False, highlight=False)
    failed = [title for title, code, _ in results if code != 0]
    if failed:
        raise typer.Exit(1)
