"""``walletops loadtest`` (Locust run with SLO gates and reports) and ``walletops capacity``."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from contracts.config import load_environment
from contracts.errors import UsageProblem
from contracts.output import Format, console, err_console, to_json, write_text
from contracts.project import ENVIRONMENTS, resolve_project_dir
from loadtests.reports import print_gates, write_chart
from loadtests.runner import ReportPaths, run_locust
from loadtests.settings import (
    DEFAULT_ARRIVAL_RATE,
    DEFAULT_DURATION_S,
    DEFAULT_USERS,
    RunSettings,
    check_scenario,
    parse_duration,
)
from loadtests.slo import GateResult, load_slo
from loadtests.target import StackFailure, Target, check_url, local_stack, url_target
from walletops.options import Output, ProjectDir

MAX_WORKERS = 16
PRICE_TIMEOUT_S = 180.0
# Table width when stdout is not a terminal (CI logs, pipes): endpoint names stay on one line.
WIDE = 140


def _env(env: str) -> str:
    if env not in ENVIRONMENTS:
        raise UsageProblem(f"--env {env!r}: unknown environment; allowed: {', '.join(ENVIRONMENTS)}")
    return env


def _check_ranges(users: int | None, spawn_rate: float | None, workers: int, retry_fraction: float) -> None:
    problems = []
    if users is not None and not 1 <= users <= 100_000:
        problems.append(f"--users {users}: allowed: 1 to 100000")
    if spawn_rate is not None and not 0 < spawn_rate <= 10_000:
        problems.append(f"--spawn-rate {spawn_rate}: allowed: more than 0, at most 10000 users/s")
    if not 0 <= workers <= MAX_WORKERS:
        problems.append(f"--workers {workers}: allowed: 0 (one process) to {MAX_WORKERS}")
    if not 0 <= retry_fraction <= 1:
        problems.append(f"--retry-fraction {retry_fraction}: allowed: 0 to 1")
    if problems:
        raise UsageProblem(problems)


def loadtest(  # noqa: PLR0917 (typer maps each parameter to an option)
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario", "-s", help="smoke, load, stress, spike, soak or arrival (open model, --rate)."
        ),
    ] = "smoke",
    target: Annotated[
        str, typer.Option("--target", "-t", help="'local' (start the local stack) or the gateway URL.")
    ] = "local",
    users: Annotated[
        int | None, typer.Option("--users", "-u", help="Peak users (default per scenario).")
    ] = None,
    spawn_rate: Annotated[
        float | None, typer.Option("--spawn-rate", "-r", help="Users started per second.")
    ] = None,
    duration: Annotated[
        str | None,
        typer.Option("--duration", "-d", help="Run length, e.g. 20s, 5m, 1h (default per scenario)."),
    ] = None,
    slo: Annotated[
        Path | None,
        typer.Option("--slo", help="SLO file (default loadtests/slo/<env>.yaml).", dir_okay=False),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", help="Local Locust worker processes (0: one).")
    ] = 0,
    report_dir: Annotated[
        Path | None,
        typer.Option("--report-dir", help="Report folder (default reports/loadtest).", file_okay=False),
    ] = None,
    env: Annotated[
        str, typer.Option("--env", "-e", help="Environment whose exchanges and SLO apply.")
    ] = "dev",
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a target outside loopback (a deliberate choice).")
    ] = False,
    backend: Annotated[
        str, typer.Option("--backend", help="Local stack backend: embedded or real.")
    ] = "embedded",
    retry_fraction: Annotated[
        float, typer.Option("--retry-fraction", help="Share of money-moving POSTs re-sent with the same key.")
    ] = 0.05,
    rate: Annotated[
        float | None,
        typer.Option("--rate", help="arrival: requests per second offered, whatever the latency."),
    ] = None,
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="table or json (the summary).")
    ] = Format.table,
    output: Output = None,
    project_dir: ProjectDir = None,
) -> None:
    """Run a Locust scenario against the local stack or a URL; gate on the SLO; write reports.

    Exit 0 when every SLO gate held and the ledger balanced, 1 on any breach, 2 on bad input.
    """
    if fmt not in (Format.table, Format.json):
        raise UsageProblem(f"--format {fmt.value}: allowed: table, json")
    scenario = check_scenario(scenario)
    seconds = parse_duration(duration) if duration is not None else DEFAULT_DURATION_S[scenario]
    _check_ranges(users, spawn_rate, workers, retry_fraction)
    if rate is not None and (scenario != "arrival" or not 0 < rate <= 100_000):
        raise UsageProblem(
            f"--rate {rate:g}: allowed with --scenario arrival only, more than 0 and at most 100000 rps"
        )
    if backend not in ("embedded", "real"):
        raise UsageProblem(f"--backend {backend!r}: allowed: embedded, real")
    root = resolve_project_dir(project_dir)
    model = load_environment(_env(env), root)
    slo_file = (slo or root / "loadtests" / "slo" / f"{env}.yaml").resolve()
    if target != "local":
        check_url(target, allow_remote=allow_remote)
    load_slo(slo_file)
    reports = ReportPaths((report_dir or root / "reports" / "loadtest").resolve())
    peak = users or DEFAULT_USERS[scenario]
    settings = RunSettings(
        scenario=scenario,
        users=peak,
        spawn_rate=spawn_rate or max(1.0, peak / 5),
        duration_s=seconds,
        env=env,
        project_dir=root,
        slo_file=slo_file,
        summary_file=reports.summary,
        retry_fraction=retry_fraction,
        arrival_rate=rate or DEFAULT_ARRIVAL_RATE,
        exchanges=tuple(f"{exchange.name}:{exchange.kind}" for exchange in model.exchanges),
        workers=workers,
    )
    started = time.monotonic()
    try:
        if target == "local":
            err_console.print(f"starting the local stack ({backend}) ...")
            with local_stack(root, backend, env) as local:
                code = _run(settings, local, reports)
        else:
            code = _run(settings, url_target(target, allow_remote=allow_remote), reports)
    except StackFailure as exc:
        err_console.print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from None
    summary = _report(reports, settings, code, fmt=fmt, output=output, elapsed=time.monotonic() - started)
    raise typer.Exit(summary.get("exit_code", 1) if code in (0, 1) else 1)


def _run(settings: RunSettings, target: Target, reports: ReportPaths) -> int:
    settings = RunSettings(
        **{
            **settings.__dict__,
            "api_key": target.api_key,
            "operator_key": target.operator_key,
            "token": target.token,
            "target": target.url,
            "service_pids": target.service_pids,
        }
    )
    label = f"{settings.workers} workers" if settings.workers else "1 process"
    with console.status(
        f"{settings.scenario}: up to {settings.users} users for {settings.duration_s:g}s "
        f"against {target.url} ({label})",
        spinner="dots",
    ):
        return run_locust(settings, target.url, reports)


def _report(
    reports: ReportPaths,
    settings: RunSettings,
    code: int,
    *,
    fmt: Format,
    output: Path | None,
    elapsed: float,
) -> dict[str, Any]:
    if not reports.summary.is_file():
        tail = (
            reports.log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
            if reports.log.is_file()
            else []
        )
        err_console.print(
            f"error: Locust exited {code} without a summary; last lines of {reports.log}:", markup=False
        )
        for line in tail:
            err_console.print(f"  {line}", markup=False, highlight=False)
        return {"exit_code": 1}
    summary: dict[str, Any] = json.loads(reports.summary.read_text(encoding="utf-8"))
    if reports.history_csv.is_file():
        write_chart(
            reports.history_csv, reports.chart, f"walletops loadtest {settings.scenario} ({settings.env})"
        )
    if fmt is Format.json:
        write_text(to_json(summary), output)
        return summary
    out = console if console.is_terminal else Console(width=WIDE)
    endpoints = Table(
        title=f"{settings.scenario} against {summary['target']}: {summary['window']['duration_s']:.0f}s"
    )
    for column in ("endpoint", "service", "requests", "failures", "rps", "p50 ms", "p95 ms", "p99 ms"):
        endpoints.add_column(column, justify="left" if column in ("endpoint", "service") else "right")
    for row in [*summary["endpoints"], {"endpoint": "total", "service": "", **summary["total"]}]:
        endpoints.add_row(
            row["endpoint"],
            row["service"],
            str(row["requests"]),
            str(row["failures"]),
            f"{row['rps']:.1f}",
            f"{row['p50_ms']:g}",
            f"{row['p95_ms']:g}",
            f"{row['p99_ms']:g}",
        )
    out.print(endpoints)
    print_gates([GateResult(**gate) for gate in summary["gates"]], out)
    shape = summary.get("shape", {})
    if settings.scenario == "stress":
        broken = shape.get("broken_at")
        console.print(
            f"stress: held {shape.get('held_users', 0)} users at {shape.get('held_rps', 0)} rps"
            + (
                f"; broke at {broken['users']} users ({', '.join(broken['gates'])})"
                if broken
                else "; never broke"
            )
        )
    verdict = "[green]PASSED[/]" if summary["passed"] else "[bold red]FAILED[/]"
    console.print(f"{verdict} in {elapsed:.0f}s (exit {summary['exit_code']})")
    for label, path in reports.all().items():
        if path.is_file():
            console.print(f"  {label:<13} {_relative(path)}", highlight=False)
    if output is not None:
        write_text(to_json(summary), output)
    return summary


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path(os.getcwd())))
    except ValueError:
        return str(path)


def capacity(  # noqa: PLR0917 (typer maps each parameter to an option)
    users: Annotated[int, typer.Option("--users", "-u", help="Registered users to plan for.")] = 1_000_000,
    profile: Annotated[
        Path | None,
        typer.Option(
            "--profile",
            help="Activity profile YAML (default loadtests/profiles/wallet.yaml).",
            dir_okay=False,
        ),
    ] = None,
    summary: Annotated[
        Path | None, typer.Option("--from", help="summary.json of a passing load-test run.", dir_okay=False)
    ] = None,
    env: Annotated[
        str, typer.Option("--env", "-e", help="Environment whose sizes and node groups apply.")
    ] = "prod",
    with_cost: Annotated[
        bool, typer.Option("--cost/--no-cost", help="Price the resized environment with the cost estimator.")
    ] = True,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json.")] = Format.table,
    output: Output = None,
    project_dir: ProjectDir = None,
) -> None:
    """Replicas per service, nodes per node group, database and cache size (and cost) for N users.

    Uses the rps per CPU core a load test measured at SLO (``--from``), each pod's CPU request and
    HPA target from the plan, and a user activity profile; prints every step of the reasoning with
    its numbers. Exit 1 when the measurements cannot carry the plan (too short a run, no CPU
    figure, no recorded database rate), saying why.
    """
    from contracts.gateway_spec import load_gateway_spec
    from loadtests.capacity import (
        BasisRefused,
        check_basis,
        load_profile,
        load_summary,
        monthly_requests_millions,
        plan_capacity,
        pod_sizing,
        scaled_environment,
    )
    from walletops.orchestration import build_plan

    if fmt not in (Format.table, Format.json):
        raise UsageProblem(f"--format {fmt.value}: allowed: table, json")
    if not 1 <= users <= 1_000_000_000:
        raise UsageProblem(f"--users {users}: allowed: 1 to 1000000000")
    if summary is None:
        raise UsageProblem(
            "--from SUMMARY.json is required (the summary.json of a passing walletops loadtest run)"
        )
    root = resolve_project_dir(project_dir)
    model = load_environment(_env(env), root)
    activity = load_profile(profile or root / "loadtests" / "profiles" / "wallet.yaml")
    measured = load_summary(summary)
    routes = load_gateway_spec(root).expanded_routes([exchange.name for exchange in model.exchanges])
    try:
        check_basis(measured, activity.basis, str(summary))
        pods = pod_sizing(build_plan(model.name, root)[model.name].kubernetes_manifests())
        plan = plan_capacity(users, activity, measured, model, routes, pods=pods)
    except BasisRefused as exc:
        err_console.print(f"refused: {exc}", markup=False)
        raise typer.Exit(1) from None
    if with_cost:
        plan.cost = _price(scaled_environment(model, plan, monthly_requests_millions(plan)))
        if "monthly_usd" in plan.cost:
            unpriced = plan.cost["unpriced"]
            plan.step(
                "monthly cost",
                f"the resized {env} priced by the cost estimator: {plan.cost['monthly_usd']:,.2f} USD"
                + (
                    f", NOT counting {len(unpriced)} unpriced charge(s): {'; '.join(unpriced)}"
                    if unpriced
                    else ""
                ),
            )
        else:
            plan.step("monthly cost", str(plan.cost["unavailable"]))
    if fmt is Format.json:
        write_text(to_json(plan.to_json()), output)
        return
    out = console if console.is_terminal else Console(width=WIDE)
    steps = Table(
        title=f"capacity of {env} for {users:,} users (from {summary.name}, run '{measured['scenario']}')"
    )
    steps.add_column("#", justify="right")
    steps.add_column("step")
    steps.add_column("reasoning", overflow="fold")
    for number, step in enumerate(plan.steps, start=1):
        steps.add_row(str(number), step.title, step.detail)
    out.print(steps)
    answer = Table(title="answer")
    answer.add_column("what")
    answer.add_column("size", justify="right")
    for name, service in plan.services.items():
        answer.add_row(f"measured rps per core {name}", f"{service['rps_per_core']:,.1f}")
        answer.add_row(f"replicas {name}", str(service["replicas"]))
    for name, group in plan.node_groups.items():
        answer.add_row(f"nodes {name} ({group['instance_type']})", str(group["nodes"]))
    answer.add_row("database", f"{plan.database['instance_class']}, {plan.database['storage_gb']} GB")
    answer.add_row(
        "cache", f"{plan.cache['shards']} x {plan.cache['node_type']} (x{plan.cache['replicas_per_shard']})"
    )
    if plan.cost and "monthly_usd" in plan.cost:
        unpriced_count = len(plan.cost["unpriced"])
        answer.add_row(
            "monthly cost (USD)",
            f"{plan.cost['monthly_usd']:,.2f}" + (f" + {unpriced_count} unpriced" if unpriced_count else ""),
        )
    out.print(answer)
    for warning in plan.warnings:
        err_console.print(f"warning: {warning}", markup=False)
    if output is not None:
        write_text(to_json(plan.to_json()), output)


def _price(model: Any) -> dict[str, Any]:
    """Monthly USD of ``model`` from the cost estimator, or why it could not be priced.

    The program is planned under mocks in a forked child (mocks are process-global; the child is
    forked before any thread starts here) with a time limit, so a stuck plan cannot hang this command.
    """
    try:
        import cost.estimator  # noqa: F401 (presence check before forking)
    except ImportError as exc:
        return {"unavailable": f"cost estimator not available ({exc})"}
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_price_child, args=(model, sender), daemon=False)
    child.start()
    sender.close()
    with console.status("pricing the resized environment (planning it under mocks)", spinner="dots"):
        ready = receiver.poll(PRICE_TIMEOUT_S)
        result: dict[str, Any] = (
            receiver.recv() if ready else {"unavailable": f"cost estimate took over {PRICE_TIMEOUT_S:g}s"}
        )
        child.join(5)
        if child.is_alive() and child.pid is not None:
            os.killpg(child.pid, signal.SIGKILL)
            child.join()
    return result


def _price_child(model: Any, sender: Any) -> None:
    from contracts.plan_graph import PlanGraph
    from cost.estimator import estimate
    from infra.planner import plan_in_process

    os.setpgrp()
    try:
        graph = PlanGraph({model.name: plan_in_process(model)})
        env_cost = estimate(graph, {model.name: model.usage}).environments[model.name]
        sender.send(
            {
                "monthly_usd": env_cost.monthly_usd,
                "by_component": env_cost.by_component(),
                "unpriced": [f"{entry.name}: {entry.reason}" for entry in env_cost.unpriced],
            }
        )
    except Exception as exc:  # the whole infra program runs here; report the failure, do not hide it
        sender.send({"unavailable": f"cost estimate failed: {type(exc).__name__}: {exc}"})
    finally:
        sender.close()
        os._exit(0)
