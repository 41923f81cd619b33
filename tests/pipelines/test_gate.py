"""The pipeline's SLO gate: an open-model run long enough for every p95/p99 gate to be judged."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from contracts.config import load_environment
from contracts.errors import UsageProblem
from loadtests.mix import SAMPLE_MARGIN, endpoint_shares, gate_run_length
from loadtests.slo import MIN_REQUESTS, SloSpec, load_slo
from pipelines.results import Status
from walletops import pipeline_wiring
from walletops.pipeline_wiring import GATE_RATE_RPS, gate_length, gate_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("env", ["dev", "qa", "stage", "prod"])
def test_every_gated_endpoint_gets_its_minimum_sample(env: str) -> None:
    run = gate_length(ROOT, env, GATE_RATE_RPS, None)
    exchanges = [exchange.name for exchange in load_environment(env, ROOT).exchanges]
    shares = endpoint_shares(exchanges)
    assert set(shares) >= {"GET /v1/accounts/{id}", "POST /v1/accounts", "POST /v1/transfers"}
    assert len([e for e in shares if e.startswith("POST /v1/exchanges/")]) == len(exchanges)
    for endpoint, share in shares.items():
        expected = run.rate_rps * run.duration_s * share
        assert expected >= MIN_REQUESTS["p99_ms"] * SAMPLE_MARGIN - 1, (env, endpoint, expected)
    assert run.needed == MIN_REQUESTS["p99_ms"]
    assert run.expected >= run.needed
    # Bounded: at 60 rps no environment's gate runs longer than 11 minutes.
    assert 60 < run.duration_s <= 660


def test_the_scarcest_endpoint_sets_the_length() -> None:
    spec = SloSpec.model_validate(
        {
            "error_rate_max": 0.01,
            "endpoints": {"POST /v1/accounts": {"p99_ms": 500}, "GET /v1/accounts/{id}": {"p95_ms": 100}},
        }
    )
    run = gate_run_length(spec, ["coinbase"], 50.0)
    # sign-ups are 5 of 100 picks: 1,000 x 1.5 / (50 rps x 0.05) = 600 s.
    assert run.scarcest == "POST /v1/accounts"
    assert run.duration_s == 600
    only_p95 = SloSpec.model_validate(
        {"error_rate_max": 0.01, "endpoints": {"GET /v1/accounts/{id}": {"p95_ms": 1}}}
    )
    # balance checks are 40 of 100 picks and p95 needs 200: 200 x 1.5 / (50 x 0.4) = 15 s.
    assert gate_run_length(only_p95, ["coinbase"], 50.0).duration_s == 15


def test_a_duration_too_short_for_the_p99_sample_is_refused() -> None:
    with pytest.raises(UsageProblem, match=r"--duration 20s: too short .* needs at least \d+ s"):
        gate_length(ROOT, "dev", GATE_RATE_RPS, "20s")
    assert gate_length(ROOT, "dev", GATE_RATE_RPS, "15m").duration_s == 900


def _fake_loadtest(monkeypatch: pytest.MonkeyPatch, summary: dict[str, Any], code: int) -> list[list[str]]:
    calls: list[list[str]] = []

    def run(argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        Path(argv[argv.index("--output") + 1]).write_text(json.dumps(summary))
        return subprocess.CompletedProcess(argv, code, "", "")

    monkeypatch.setattr(pipeline_wiring.subprocess, "run", run)
    return calls


def test_the_gate_runs_the_open_model_at_a_constant_rate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = {"total": {"requests": 30_000}, "gates": [{"gate": "p99 POST /v1/accounts", "passed": True}]}
    calls = _fake_loadtest(monkeypatch, summary, 0)
    check = gate_run(ROOT, "dev", None, tmp_path / "dev.json")
    argv = calls[0]
    assert argv[argv.index("--scenario") + 1] == "arrival"
    assert argv[argv.index("--rate") + 1] == "60"
    assert argv[argv.index("--duration") + 1] == f"{gate_length(ROOT, 'dev', 60.0, None).duration_s}s"
    assert argv[argv.index("--target") + 1] == "local"
    assert check.status is Status.passed
    assert "30000 requests at 60 rps" in check.summary


def test_a_gate_without_enough_data_fails_the_step(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gate = {
        "gate": "p99 POST /v1/accounts",
        "threshold": "<= 2000 ms",
        "measured": "not enough data (312 < 1,000 requests)",
        "passed": False,
    }
    _fake_loadtest(monkeypatch, {"total": {"requests": 6_000}, "gates": [gate]}, 1)
    check = gate_run(ROOT, "dev", None, tmp_path / "dev.json")
    assert check.status is Status.failed
    assert [f.message for f in check.findings] == [
        "measured not enough data (312 < 1,000 requests), allowed <= 2000 ms"
    ]


def test_the_slo_files_keep_their_p99_minimum() -> None:
    for env in ("dev", "qa", "stage", "prod"):
        spec = load_slo(ROOT / "loadtests" / "slo" / f"{env}.yaml")
        assert spec.min_requests.get("p99_ms", MIN_REQUESTS["p99_ms"]) >= 1000
        assert any(objective.p99_ms for objective in spec.endpoints.values())
