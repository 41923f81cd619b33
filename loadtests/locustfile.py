"""The walletops locustfile: journeys, the scenario's shape, and the end-of-run verdict.

Started by ``walletops loadtest`` (locally, alone or as master + workers) or by the in-cluster
Deployment, with its settings in ``WALLETOPS_LT_*`` variables (:mod:`loadtests.settings`). At the
end of the run the master (or the single local process) judges the SLO gates, verifies the
ledger through ``GET /v1/ledger/verify``, prints the gate table, writes the JSON summary and sets
``environment.process_exit_code``: 0 when every gate held, 1 on any breach.
"""

from __future__ import annotations

from typing import Any

import httpx
from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner
from rich.console import Console

from contracts.gateway_spec import load_gateway_spec
from contracts.output import to_json
from loadtests import shapes
from loadtests.cpu import CpuSample, sample_services
from loadtests.journeys import build_arrival_class, build_user_class, configured_exchanges
from loadtests.reports import build_summary, print_gates
from loadtests.settings import RunSettings
from loadtests.slo import GateResult, evaluate, load_slo, snapshot

SETTINGS = RunSettings.from_environ()


EXCHANGES = configured_exchanges(SETTINGS)
if SETTINGS.scenario == "arrival":
    WalletArrivals = build_arrival_class(EXCHANGES, SETTINGS)
else:
    WalletAppUser = build_user_class(EXCHANGES, SETTINGS)
Shape = shapes.SHAPES[SETTINGS.scenario]
VERDICT: dict[str, int] = {}
CPU_AT_START: dict[str, CpuSample] = {}
WORKER_REQUESTS: dict[str, int] = {}
"""Requests each worker reported to the master (distributed runs), by worker id."""


def verify_ledger(host: str, settings: RunSettings) -> dict[str, Any]:
    """The wallet's own double-entry check, asked with the operator key after the load has stopped."""
    try:
        response = httpx.get(
            f"{host.rstrip('/')}/v1/ledger/verify",
            headers={"X-Api-Key": settings.operator_key or settings.api_key},
            timeout=30.0,
        )
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return {"error": f"ledger verification failed: {exc}"}
    return {key: document.get(key) for key in ("balanced", "transfers", "accounts")}


def ledger_gate(ledger: dict[str, Any]) -> GateResult:
    if "error" in ledger:
        return GateResult("ledger balanced", "balanced", str(ledger["error"])[:80], False)
    measured = f"{'balanced' if ledger['balanced'] else 'UNBALANCED'} ({ledger['transfers']} transfers)"
    return GateResult("ledger balanced", "balanced", measured, ledger["balanced"] is True)


def replay_gate(window_endpoints: dict[str, Any]) -> GateResult:
    """Every deliberate same-key retry was answered as a replay of the first request."""
    replays = [e for key, e in window_endpoints.items() if key.endswith("(replay)")]
    sent = sum(e.requests for e in replays)
    failed = sum(e.failures for e in replays)
    if sent == 0:
        return GateResult("idempotent replays", "all flagged, same id", "no replays sent", None)
    return GateResult("idempotent replays", "all flagged, same id", f"{sent - failed}/{sent}", failed == 0)


def judge_run(environment: Environment) -> int:
    """Judge the gates and the ledger, print the table, write the summary; return the exit code."""
    assert environment.runner is not None
    shape = environment.shape_class
    window = snapshot(
        environment.runner.stats,
        cpu_start=CPU_AT_START,
        cpu_end=sample_services(SETTINGS.service_pids),
    )
    if isinstance(shape, shapes.StressShape):
        window = shape.verdict_window() or window
    spec = load_slo(SETTINGS.resolved_slo_file())
    gates = evaluate(spec, window, SETTINGS.scenario)
    gates.append(replay_gate(window.endpoints))
    ledger = verify_ledger(environment.host or SETTINGS.target, SETTINGS)
    gates.append(ledger_gate(ledger))
    routes = load_gateway_spec(SETTINGS.resolved_project_dir()).expanded_routes(
        [name for name, _ in EXCHANGES]
    )
    summary = build_summary(
        window,
        gates,
        routes=routes,
        scenario=SETTINGS.scenario,
        env=SETTINGS.env,
        target=environment.host or SETTINGS.target,
        workers=SETTINGS.workers,
        worker_requests=dict(WORKER_REQUESTS),
        ledger=ledger,
        shape=shape.report() if isinstance(shape, shapes.ScenarioShape) else {},
    )
    Console().print()
    print_gates(gates)
    if SETTINGS.summary_file is not None:
        SETTINGS.summary_file.parent.mkdir(parents=True, exist_ok=True)
        SETTINGS.summary_file.write_text(to_json(summary), encoding="utf-8")
    return int(summary["exit_code"])


def _judges(environment: Environment) -> bool:
    return environment.runner is not None and not isinstance(environment.runner, WorkerRunner)


@events.test_start.add_listener
def on_test_start(environment: Environment, **_: Any) -> None:
    """The services' CPU at the start: the whole run's CPU is measured from here."""
    if _judges(environment):
        CPU_AT_START.clear()
        CPU_AT_START.update(sample_services(SETTINGS.service_pids))
        WORKER_REQUESTS.clear()


@events.worker_report.add_listener
def on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    """The master adds up what each worker reported (each report holds the requests since the last)."""
    total = data.get("stats_total") or {}
    WORKER_REQUESTS[client_id] = WORKER_REQUESTS.get(client_id, 0) + int(total.get("num_requests", 0))


@events.test_stop.add_listener
def on_test_stop(environment: Environment, **_: Any) -> None:
    """Each run ends with a verdict (also runs started from the web UI of an in-cluster master)."""
    if _judges(environment):
        VERDICT["exit_code"] = judge_run(environment)


@events.quitting.add_listener
def on_quitting(environment: Environment, **_: Any) -> None:
    """The process exits 0 when the last run held every gate, 1 otherwise (headless runs)."""
    if _judges(environment):
        code = VERDICT.get("exit_code")
        environment.process_exit_code = judge_run(environment) if code is None else code
