"""Run reports: the JSON summary, the SLO gate table and the throughput/latency chart.

The summary (``summary.json``) is what other tools read — ``walletops capacity --from`` takes
per-service rps from it — so its shape is versioned (``SUMMARY_FORMAT``)::

    {"format": 1, "scenario", "env", "target", "workers", "worker_requests", "passed", "exit_code",
     "window": {"started", "ended", "duration_s"},
     "total": {endpoint stats}, "endpoints": [{"endpoint", "method", "name", "service",
                "requests", "failures", "error_rate", "rps", "avg_ms", "p50_ms", "p95_ms",
                "p99_ms", "max_ms"}],
     "services": {"<service>": {"rps", "requests", "replicas", "replicas_source",
                   "cpu_seconds", "cores", "rps_per_core"}},
     "processes": {"<process>": {"cpu_seconds", "workers"}},
     "gates": [{"gate", "threshold", "measured", "passed"}],
     "ledger": {"balanced", "transfers", "accounts"} | {"error"},
     "shape": {...}}
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from contracts.gateway_spec import Route
from loadtests.cpu import CpuSample
from loadtests.slo import EndpointWindow, GateResult, StatsWindow

SUMMARY_FORMAT = 1
REPORT_FILES = {
    "html": "locust-report.html",
    "csv_prefix": "locust",
    "summary": "summary.json",
    "chart": "chart.html",
}


def service_of(name: str, routes: list[Route]) -> str:
    """The service behind a request path, by the gateway's longest matching route prefix."""
    path = name.split("?", maxsplit=1)[0].split(" ", maxsplit=1)[0]
    best: Route | None = None
    for route in routes:
        matches = path == route.path_prefix or path.startswith(route.path_prefix.rstrip("/") + "/")
        if matches and (best is None or len(route.path_prefix) > len(best.path_prefix)):
            best = route
    return best.service if best else "unknown"


def endpoint_stats(endpoint: EndpointWindow, duration_s: float) -> dict[str, Any]:
    return {
        "requests": endpoint.requests,
        "failures": endpoint.failures,
        "error_rate": round(endpoint.failures / endpoint.requests, 6) if endpoint.requests else 0.0,
        "rps": round(endpoint.requests / duration_s, 3),
        "avg_ms": round(endpoint.avg_ms, 2),
        "p50_ms": endpoint.percentile(0.50),
        "p95_ms": endpoint.percentile(0.95),
        "p99_ms": endpoint.percentile(0.99),
        "max_ms": round(endpoint.max_ms, 2),
    }


def service_cpu(service: str, rps: float, duration_s: float, used: dict[str, CpuSample]) -> dict[str, Any]:
    """A service's measured workers and CPU over the window, and the rps one CPU core served.

    Without a CPU reading (a URL target, or a process that was gone) the replica count is
    unknown and said so: nothing downstream may divide by an assumed one.
    """
    sample = used.get(service)
    if sample is None or sample.cpu_s <= 0:
        return {"replicas": None, "replicas_source": "not measured (no process of this service was read)"}
    cores = sample.cpu_s / duration_s
    return {
        "replicas": sample.workers,
        "replicas_source": "measured (worker processes)",
        "cpu_seconds": round(sample.cpu_s, 3),
        "cores": round(cores, 4),
        "rps_per_core": round(rps / cores, 2),
    }


def build_summary(
    window: StatsWindow,
    gates: list[GateResult],
    *,
    routes: list[Route],
    scenario: str,
    env: str,
    target: str,
    workers: int,
    ledger: dict[str, Any],
    shape: dict[str, Any],
    worker_requests: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The JSON summary of a run judged over ``window``.

    ``worker_requests``: in a distributed run, the requests each worker process reported to the
    master over the whole run (the master's statistics are their sum).
    """
    duration = window.duration_s
    total = EndpointWindow(method="", name="Aggregated")
    endpoints = []
    services: dict[str, dict[str, Any]] = {}
    for key in sorted(window.endpoints):
        endpoint = window.endpoints[key]
        if endpoint.requests == 0:
            continue
        service = service_of(endpoint.name, routes)
        endpoints.append(
            {
                "endpoint": endpoint.endpoint,
                "method": endpoint.method,
                "name": endpoint.name,
                "service": service,
                **endpoint_stats(endpoint, duration),
            }
        )
        total.requests += endpoint.requests
        total.failures += endpoint.failures
        total.total_ms += endpoint.total_ms
        total.max_ms = max(total.max_ms, endpoint.max_ms)
        total.response_times.update(endpoint.response_times)
        entry = services.setdefault(service, {"requests": 0, "rps": 0.0})
        entry["requests"] += endpoint.requests
        entry["rps"] = round(entry["requests"] / duration, 3)
    used = window.cpu_used()
    for service, entry in services.items():
        entry.update(service_cpu(service, entry["rps"], duration, used))
    passed = all(gate.passed is not False for gate in gates)
    return {
        "format": SUMMARY_FORMAT,
        "scenario": scenario,
        "env": env,
        "target": target,
        "workers": workers,
        "worker_requests": dict(sorted((worker_requests or {}).items())),
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "window": {
            "started": round(window.started, 3),
            "ended": round(window.ended, 3),
            "duration_s": round(duration, 3),
        },
        "total": endpoint_stats(total, duration),
        "endpoints": endpoints,
        "services": services,
        "processes": {
            name: {"cpu_seconds": sample.cpu_s, "workers": sample.workers} for name, sample in used.items()
        },
        "gates": [gate.as_dict() for gate in gates],
        "ledger": ledger,
        "shape": shape,
        "passed": passed,
        "exit_code": 0 if passed else 1,
    }


def gate_table(gates: list[GateResult], title: str = "SLO gates") -> Table:
    """The gate verdicts as a table: gate, threshold, measured, pass/fail."""
    table = Table(title=title)
    table.add_column("gate")
    table.add_column("threshold", justify="right")
    table.add_column("measured", justify="right")
    table.add_column("result")
    for gate in gates:
        verdict = {True: "[green]pass[/]", False: "[bold red]FAIL[/]", None: "[yellow]no data[/]"}[
            gate.passed
        ]
        table.add_row(gate.gate, gate.threshold, gate.measured, verdict)
    return table


def print_gates(gates: list[GateResult], console: Console | None = None) -> None:
    (console or Console()).print(gate_table(gates))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_history(path: Path) -> list[dict[str, str]]:
    """Rows of Locust's ``*_stats_history.csv`` (one per endpoint and interval, plus 'Aggregated')."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_chart(history_csv: Path, output: Path, title: str) -> Path:
    """A plotly HTML page (loading ``plotly.min.js`` beside it, written once per folder): users and
    rps, then p50/p95/p99 latency over time."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = [row for row in read_history(history_csv) if row.get("Name") == "Aggregated"]
    start = int(rows[0]["Timestamp"]) if rows else 0
    seconds = [int(row["Timestamp"]) - start for row in rows]
    figure = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        subplot_titles=("throughput", "latency percentiles (aggregated)"),
        specs=[[{"secondary_y": True}], [{}]],
    )
    figure.add_trace(
        go.Scatter(x=seconds, y=[_number(r["Requests/s"]) for r in rows], name="requests/s"), row=1, col=1
    )
    figure.add_trace(
        go.Scatter(x=seconds, y=[_number(r["Failures/s"]) for r in rows], name="failures/s"), row=1, col=1
    )
    figure.add_trace(
        go.Scatter(x=seconds, y=[_number(r["User Count"]) for r in rows], name="users", line={"dash": "dot"}),
        row=1,
        col=1,
        secondary_y=True,
    )
    for column in ("50%", "95%", "99%"):
        figure.add_trace(
            go.Scatter(x=seconds, y=[_number(r.get(column, "")) for r in rows], name=f"p{column[:-1]} ms"),
            row=2,
            col=1,
        )
    figure.update_layout(title=title, height=720)
    figure.update_xaxes(title_text="seconds since start", row=2, col=1)
    figure.update_yaxes(title_text="ms", row=2, col=1)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.write_html(str(output), include_plotlyjs="directory", full_html=True)
    return output
