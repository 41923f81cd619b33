"""SLO gates: thresholds judged over windows of statistics, globs over exchanges, file validation."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from contracts.errors import UsageProblem
from loadtests.slo import EndpointWindow, SloSpec, StatsWindow, breached, evaluate, load_slo

PROJECT = Path(__file__).resolve().parents[2]


def _endpoint(method: str, name: str, times: dict[int, int], failures: int = 0) -> EndpointWindow:
    requests = sum(times.values())
    return EndpointWindow(
        method=method,
        name=name,
        requests=requests,
        failures=failures,
        total_ms=float(sum(ms * n for ms, n in times.items())),
        max_ms=float(max(times)),
        response_times=Counter(times),
    )


def _window(*endpoints: EndpointWindow, seconds: float = 10.0) -> StatsWindow:
    return StatsWindow(started=100.0, ended=100.0 + seconds, endpoints={e.endpoint: e for e in endpoints})


SPEC = SloSpec.model_validate(
    {
        "error_rate_max": 0.01,
        "min_throughput_rps": {"smoke": 5},
        "min_requests": {"p95_ms": 1, "p99_ms": 1},
        "endpoints": {
            "GET /v1/accounts/{id}": {"p95_ms": 50, "p99_ms": 100},
            "POST /v1/exchanges/*/orders": {"p99_ms": 500},
            "POST /v1/topups": {"p95_ms": 200},
        },
    }
)


def test_every_gate_passes_within_its_threshold() -> None:
    window = _window(
        _endpoint("GET", "/v1/accounts/{id}", {10: 90, 40: 9, 90: 1}),
        _endpoint("POST", "/v1/exchanges/coinbase/orders", {200: 10}),
        _endpoint("POST", "/v1/topups", {100: 20}),
    )
    results = evaluate(SPEC, window, "smoke")
    assert breached(results) == []
    gates = {r.gate: r for r in results}
    assert gates["throughput"].measured == "13.0 rps"
    assert gates["p95 GET /v1/accounts/{id}"].measured == "40 ms"
    assert gates["p99 GET /v1/accounts/{id}"].measured == "90 ms"


def test_a_slow_percentile_and_an_error_rate_breach_are_named() -> None:
    window = _window(
        _endpoint("GET", "/v1/accounts/{id}", {10: 90, 400: 10}, failures=3),
        _endpoint("POST", "/v1/topups", {100: 100}),
    )
    failed = {r.gate for r in breached(evaluate(SPEC, window, "smoke"))}
    assert failed == {"error rate", "p95 GET /v1/accounts/{id}", "p99 GET /v1/accounts/{id}"}


def test_one_glob_objective_judges_each_exchange_separately() -> None:
    window = _window(
        _endpoint("POST", "/v1/exchanges/coinbase/orders", {100: 100}),
        _endpoint("POST", "/v1/exchanges/kraken/orders", {100: 50, 900: 50}),
    )
    results = {r.gate: r.passed for r in evaluate(SPEC, window, "load")}
    assert results["p99 POST /v1/exchanges/coinbase/orders"] is True
    assert results["p99 POST /v1/exchanges/kraken/orders"] is False


def test_an_objective_without_requests_is_reported_but_not_a_breach() -> None:
    results = evaluate(SPEC, _window(_endpoint("POST", "/v1/topups", {10: 5})), "load")
    missing = [r for r in results if r.gate.startswith("p95 GET")]
    assert missing[0].passed is None and missing[0].measured == "no requests"
    assert breached(results) == []


def test_throughput_floor_applies_to_its_scenario_only() -> None:
    slow = _window(_endpoint("POST", "/v1/topups", {10: 10}), seconds=10)
    assert {r.gate for r in breached(evaluate(SPEC, slow, "smoke"))} == {"throughput"}
    assert breached(evaluate(SPEC, slow, "soak")) == []


def test_since_gives_the_window_between_two_cumulative_snapshots() -> None:
    early = _window(_endpoint("GET", "/v1/accounts/{id}", {10: 100}), seconds=10)
    late = _window(_endpoint("GET", "/v1/accounts/{id}", {10: 100, 500: 50}, failures=5), seconds=20)
    step = late.since(early)
    endpoint = step.endpoints["GET /v1/accounts/{id}"]
    assert (endpoint.requests, endpoint.failures) == (50, 5)
    assert endpoint.percentile(0.5) == 500
    assert step.duration_s == pytest.approx(10.0)


@pytest.mark.parametrize("env", ["dev", "qa", "stage", "prod"])
def test_shipped_slo_files_are_valid_and_tighten_towards_prod(env: str) -> None:
    spec = load_slo(PROJECT / "loadtests" / "slo" / f"{env}.yaml")
    dev = load_slo(PROJECT / "loadtests" / "slo" / "dev.yaml")
    assert spec.error_rate_max <= dev.error_rate_max
    hot = spec.endpoints["GET /v1/accounts/{id}"]
    assert hot.p95_ms is not None and dev.endpoints["GET /v1/accounts/{id}"].p95_ms is not None
    assert hot.p95_ms <= dev.endpoints["GET /v1/accounts/{id}"].p95_ms


def test_a_bad_slo_file_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text("error_rate_max: 2\nendpoints: {}\n")
    with pytest.raises(UsageProblem, match="error_rate_max"):
        load_slo(path)
    with pytest.raises(UsageProblem, match="file not found"):
        load_slo(tmp_path / "missing.yaml")


def test_a_p99_over_fewer_than_1000_requests_is_not_enough_data_and_fails() -> None:
    spec = SloSpec.model_validate(
        {"error_rate_max": 0.01, "endpoints": {"GET /v1/accounts/{id}": {"p95_ms": 50, "p99_ms": 100}}}
    )
    assert spec.min_requests == {"p95_ms": 200, "p99_ms": 1000}
    window = _window(_endpoint("GET", "/v1/accounts/{id}", {10: 999}))
    gates = {r.gate: r for r in evaluate(spec, window, "load")}
    p99 = gates["p99 GET /v1/accounts/{id}"]
    assert (p99.measured, p99.passed) == ("not enough data (999 < 1,000 requests)", False)
    assert gates["p95 GET /v1/accounts/{id}"].passed is True
    assert [r.gate for r in breached(evaluate(spec, window, "stress"))] == ["p99 GET /v1/accounts/{id}"]
    enough = _window(_endpoint("GET", "/v1/accounts/{id}", {10: 1000}))
    assert breached(evaluate(spec, enough, "load")) == []


def test_smoke_and_stress_steps_report_small_samples_without_breaching() -> None:
    spec = SloSpec.model_validate(
        {"error_rate_max": 0.01, "endpoints": {"GET /v1/accounts/{id}": {"p99_ms": 100}}}
    )
    window = _window(_endpoint("GET", "/v1/accounts/{id}", {10: 6}))
    (_, smoke) = evaluate(spec, window, "smoke")
    assert (smoke.measured, smoke.passed) == ("not enough data (6 < 1,000 requests)", None)
    (_, step) = evaluate(spec, window, "stress", small_samples_fail=False)
    assert step.passed is None
