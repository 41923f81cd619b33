"""``walletops loadtest`` end to end against the embedded local stack, and its input checks.

Each run gets its own project folder (the config and spec copied, the code linked) so its stack
state, ports and reports never meet another test's; the folder sits under /tmp with traversable
modes because the stack runs its services as an unprivileged account when we are root.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(__file__).resolve().parents[2]
REPORTS = ("locust-report.html", "locust_stats.csv", "locust_stats_history.csv", "summary.json", "chart.html")


def _walletops(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from walletops.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def project() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="walletops-loadtest-", dir="/tmp"))
    folder.chmod(0o755)
    for path in [*PROJECT.glob("Pulumi*.yaml"), PROJECT / "gateway.yaml"]:
        shutil.copy(path, folder / path.name)
    for package in ("contracts", "infra", "walletops", "loadtests", "cost", "services-stub"):
        (folder / package).symlink_to(PROJECT / package)
    yield folder
    from walletstubs.localstack.stack import LocalStack

    LocalStack(folder).down()
    shutil.rmtree(folder, ignore_errors=True)


def _summary(reports: Path) -> dict[str, Any]:
    return json.loads((reports / "summary.json").read_text())


@pytest.mark.slow
def test_smoke_run_passes_its_gates_writes_reports_and_replays_do_not_duplicate(project: Path) -> None:
    reports = project / "reports"
    result = _walletops(
        "loadtest",
        "--scenario", "smoke",
        "--target", "local",
        "--duration", "8s",
        "--users", "4",
        "--retry-fraction", "0.5",
        "--report-dir", str(reports),
        "--project-dir", str(project),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SLO gates" in result.stdout and "PASSED" in result.stdout
    for name in REPORTS:
        assert (reports / name).is_file(), name
        assert str(reports / name) in result.stdout or name in result.stdout
    summary = _summary(reports)
    assert summary["passed"] is True
    assert all(gate["passed"] is not False for gate in summary["gates"])
    by_endpoint = {e["endpoint"]: e for e in summary["endpoints"]}
    assert {"GET /v1/accounts/{id}", "POST /v1/accounts", "POST /v1/topups"} <= set(by_endpoint)
    replays = [e for name, e in by_endpoint.items() if name.endswith("(replay)")]
    assert sum(e["requests"] for e in replays) > 0
    assert sum(e["failures"] for e in replays) == 0
    ledger = summary["ledger"]
    assert ledger["balanced"] is True
    # The stack's processes were measured: real worker counts and CPU, so rps per core.
    wallet = summary["services"]["wallet"]
    assert wallet["replicas"] >= 1 and wallet["replicas_source"].startswith("measured")
    assert wallet["cpu_seconds"] > 0 and wallet["rps_per_core"] > 0
    assert summary["processes"]["gateway"]["cpu_seconds"] > 0

    def succeeded(prefix: str) -> int:
        return sum(
            e["requests"] - e["failures"]
            for name, e in by_endpoint.items()
            if name.startswith(prefix) and not name.endswith("(replay)")
        )

    # Every top-up and transfer is one ledger transfer; every order and every round-up purchase
    # (through its sweep) at most one more. A replay that moved money again would break the bracket.
    synchronous = succeeded("POST /v1/topups") + succeeded("POST /v1/transfers")
    later = succeeded("POST /v1/exchanges/") + succeeded("POST /v1/roundups/purchases")
    assert synchronous <= ledger["transfers"] <= synchronous + later


@pytest.mark.slow
def test_a_distributed_run_merges_every_workers_numbers(project: Path) -> None:
    reports = project / "reports"
    result = _walletops(
        "loadtest",
        "--scenario", "smoke",
        "--target", "local",
        "--duration", "6s",
        "--users", "4",
        "--workers", "2",
        "--report-dir", str(reports),
        "--project-dir", str(project),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    summary = _summary(reports)
    assert summary["workers"] == 2
    per_worker = summary["worker_requests"]
    # Two separate worker processes each sent requests, and the master's totals are their sum.
    assert len(per_worker) == 2 and all(count > 0 for count in per_worker.values())
    assert sum(per_worker.values()) == summary["total"]["requests"]
    assert summary["ledger"]["balanced"] is True


@pytest.mark.slow
def test_the_open_model_offers_its_arrival_rate(project: Path) -> None:
    # A short run cannot judge percentiles (too few requests); this one checks the offered load.
    slo = project / "short.yaml"
    slo.write_text(
        "error_rate_max: 0.01\nmin_requests: {p95_ms: 1}\n"
        "endpoints:\n  GET /v1/accounts/{id}: {p95_ms: 2000}\n"
    )
    reports = project / "reports"
    result = _walletops(
        "loadtest",
        "--scenario", "arrival",
        "--rate", "20",
        "--slo", str(slo),
        "--target", "local",
        "--duration", "8s",
        "--users", "2",
        "--report-dir", str(reports),
        "--project-dir", str(project),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    summary = _summary(reports)
    assert summary["shape"]["model"] == "open" and summary["shape"]["arrival_rate_rps"] == 20.0
    # 20 arrivals/s for 8 s: about 160 journeys (each one or two requests) on top of the set-up.
    journeys = sum(e["requests"] for e in summary["endpoints"] if not e["endpoint"].endswith("(replay)"))
    assert 100 <= journeys <= 400, journeys
    assert not [e for e in summary["endpoints"] if e["endpoint"] == "ARRIVAL dropped"]


@pytest.mark.slow
def test_an_impossible_slo_exits_1_and_names_the_gate(project: Path) -> None:
    slo = project / "impossible.yaml"
    slo.write_text(
        "error_rate_max: 0.5\nmin_requests: {p99_ms: 1}\n"
        "endpoints:\n  GET /v1/accounts/{id}: {p99_ms: 0.00001}\n"
    )
    reports = project / "reports"
    result = _walletops(
        "loadtest",
        "--target", "local",
        "--duration", "4s",
        "--users", "2",
        "--slo", str(slo),
        "--report-dir", str(reports),
        "--project-dir", str(project),
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "p99 GET /v1/accounts/{id}" in result.stdout and "FAIL" in result.stdout
    failed = [gate["gate"] for gate in _summary(reports)["gates"] if gate["passed"] is False]
    assert failed == ["p99 GET /v1/accounts/{id}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--target", "http://192.0.2.10:8080"],
            "not a loopback address; load-testing a remote system needs",
        ),
        (["--target", "https://api.walletco.example"], "--allow-remote"),
        (["--duration", "ten"], "--duration 'ten': not a duration"),
        (["--scenario", "burst"], "--scenario 'burst': unknown scenario; allowed: smoke, load, stress"),
        (["--workers", "99"], "--workers 99: allowed: 0 (one process) to 16"),
        (["--rate", "5"], "--rate 5: allowed with --scenario arrival only"),
        (["--env", "uat"], "--env 'uat': unknown environment"),
    ],
)
def test_bad_input_exits_2_with_a_clear_line(args: list[str], message: str) -> None:
    result = _walletops("loadtest", *args, "--project-dir", str(PROJECT), timeout=60)
    assert result.returncode == 2
    assert message in result.stderr


def test_capacity_needs_a_summary() -> None:
    result = _walletops("capacity", "--users", "1000", "--project-dir", str(PROJECT), timeout=60)
    assert result.returncode == 2
    assert "--from SUMMARY.json is required" in result.stderr


def _capacity_summary(path: Path, scenario: str, seconds: float, requests: int) -> Path:
    services = {"wallet": 40.0, "roundups": 20.0, "exchange-coinbase": 5.0, "exchange-alpaca": 5.0}
    path.write_text(
        json.dumps(
            {
                "format": 1,
                "scenario": scenario,
                "passed": True,
                "window": {"duration_s": seconds},
                "total": {"requests": requests},
                "services": {
                    name: {"rps": rps, "replicas": 2, "cpu_seconds": seconds / 2, "rps_per_core": 2 * rps}
                    for name, rps in services.items()
                },
            }
        )
    )
    return path


def test_capacity_refuses_a_smoke_summary_with_exit_1_and_says_why(tmp_path: Path) -> None:
    summary = _capacity_summary(tmp_path / "smoke.json", "smoke", 20.0, 180)
    result = _walletops(
        "capacity", "--from", str(summary), "--env", "dev", "--no-cost", "--project-dir", str(PROJECT)
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "too short a basis" in result.stderr and "20 s < 120 s" in result.stderr


def test_capacity_prints_its_reasoning_and_prices_the_resized_environment(tmp_path: Path) -> None:
    summary = _capacity_summary(tmp_path / "summary.json", "stress", 300.0, 24_000)
    common = [
        "capacity",
        "--users",
        "100000",
        "--from",
        str(summary),
        "--env",
        "dev",
        "--project-dir",
        str(PROJECT),
    ]
    table = _walletops(*common, "--no-cost")
    assert table.returncode == 0, table.stderr
    assert "peak GET /v1/accounts/{id}" in table.stdout and "replicas wallet" in table.stdout
    assert "measured rps per core wallet" in table.stdout
    priced = _walletops(*common, "--format", "json")
    assert priced.returncode == 0, priced.stderr
    plan = json.loads(priced.stdout)
    assert plan["services"]["wallet"]["replicas"] >= 1
    assert plan["cost"]["monthly_usd"] > 0
    assert plan["steps"][-1]["title"] == "monthly cost"
    assert plan["services"]["wallet"]["rps_per_core"] == 80.0
    resized = ("aws:rds/", "aws:elasticache/", "aws:eks/nodeGroup", "is not in the cost model")
    assert not [u for u in plan["cost"]["unpriced"] if any(word in u for word in resized)]
    assert not [u for u in plan["cost"]["unpriced"] if "rds.postgres" in u or "elasticache.redis" in u]
