"""Reports: the JSON summary's per-service figures, and the chart from Locust's stats history."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from contracts.gateway_spec import load_gateway_spec
from loadtests.cpu import CpuSample
from loadtests.reports import build_summary, service_of, write_chart
from loadtests.slo import EndpointWindow, GateResult, StatsWindow

PROJECT = Path(__file__).resolve().parents[2]
ROUTES = load_gateway_spec(PROJECT).expanded_routes(["coinbase", "alpaca"])


def test_requests_map_to_services_by_the_longest_gateway_prefix() -> None:
    assert service_of("/v1/accounts/{id}", ROUTES) == "wallet"
    assert service_of("/v1/exchanges/coinbase/orders (replay)", ROUTES) == "exchange-coinbase"
    assert service_of("/v1/roundups/purchases", ROUTES) == "roundups"
    assert service_of("/v1/unknown", ROUTES) == "unknown"


def test_summary_has_per_endpoint_and_per_service_figures_and_the_verdict() -> None:
    endpoints = {
        "GET /v1/accounts/{id}": EndpointWindow(
            "GET", "/v1/accounts/{id}", 80, 0, 800.0, 20.0, Counter({10: 80})
        ),
        "POST /v1/topups": EndpointWindow("POST", "/v1/topups", 20, 1, 600.0, 40.0, Counter({30: 20})),
    }
    window = StatsWindow(
        started=0.0,
        ended=10.0,
        endpoints=endpoints,
        cpu_start={"wallet": CpuSample(3.0, 2), "gateway": CpuSample(1.0, 1)},
        cpu_end={"wallet": CpuSample(8.0, 2), "gateway": CpuSample(2.5, 1)},
    )
    gates = [GateResult("error rate", "<= 1.00%", "1.00% (1/100)", True), GateResult("x", "y", "z", False)]
    summary = build_summary(
        window,
        gates,
        routes=ROUTES,
        scenario="smoke",
        env="dev",
        target="http://127.0.0.1:1",
        workers=0,
        ledger={"balanced": True, "transfers": 3, "accounts": 2},
        shape={},
    )
    # 5 CPU seconds over 10 s = 0.5 cores for 10 rps: 20 rps per core, two worker processes.
    assert summary["services"] == {
        "wallet": {
            "requests": 100,
            "rps": 10.0,
            "replicas": 2,
            "replicas_source": "measured (worker processes)",
            "cpu_seconds": 5.0,
            "cores": 0.5,
            "rps_per_core": 20.0,
        }
    }
    assert summary["processes"] == {
        "gateway": {"cpu_seconds": 1.5, "workers": 1},
        "wallet": {"cpu_seconds": 5.0, "workers": 2},
    }
    assert summary["total"]["requests"] == 100 and summary["total"]["failures"] == 1
    topups = next(e for e in summary["endpoints"] if e["endpoint"] == "POST /v1/topups")
    assert (topups["rps"], topups["p95_ms"], topups["error_rate"]) == (2.0, 30.0, 0.05)
    assert summary["passed"] is False and summary["exit_code"] == 1


def test_a_service_without_a_cpu_reading_has_no_replica_count_rather_than_one() -> None:
    endpoints = {"GET /v1/accounts/{id}": EndpointWindow("GET", "/v1/accounts/{id}", 50, 0, 50.0, 1.0)}
    window = StatsWindow(started=0.0, ended=10.0, endpoints=endpoints)
    summary = build_summary(
        window, [], routes=ROUTES, scenario="load", env="dev", target="t", workers=0, ledger={}, shape={}
    )
    wallet = summary["services"]["wallet"]
    assert wallet["replicas"] is None and "not measured" in wallet["replicas_source"]
    assert "rps_per_core" not in wallet


def test_chart_loads_plotly_from_the_folder_once(tmp_path: Path) -> None:
    history = tmp_path / "locust_stats_history.csv"
    history.write_text(
        "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,95%,99%\n"
        "1000,2,GET,/v1/accounts/{id},3.0,0.0,10,20,30\n"
        "1000,2,,Aggregated,5.0,0.0,11,21,31\n"
        "1001,4,,Aggregated,7.5,0.5,12,N/A,33\n"
    )
    chart = write_chart(history, tmp_path / "chart.html", "smoke")
    html = chart.read_text()
    assert '<script charset="utf-8" src="plotly.min.js"></script>' in html
    assert len(html) < 100_000 and (tmp_path / "plotly.min.js").stat().st_size > 1_000_000
    # Only the aggregated rows are plotted, seconds from the start; a missing percentile is a gap.
    assert '"name":"requests\\u002fs","x":[0,1],"y":[5.0,7.5]' in html
    assert '"name":"p95 ms","x":[0,1],"y":[21.0,null]' in html
