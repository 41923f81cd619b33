"""``walletops cost actuals`` against moto's Cost Explorer on loopback, with injected results."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cost_fixtures import price, small_plan
from moto.server import ThreadedMotoServer

from contracts.config import load_environment

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.service


@pytest.fixture
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
    yield url
    server.stop()


def inject(url: str, amounts: dict[str, str]) -> None:
    result = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-11-01", "End": "2026-11-16"},
                "Total": {},
                "Groups": [
                    {
                        "Keys": [f"environment${env}"],
                        "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}},
                    }
                    for env, amount in amounts.items()
                ],
                "Estimated": True,
            }
        ],
        "DimensionValueAttributes": [],
    }
    response = requests.post(
        f"{url}/moto-api/static/ce/cost-and-usage-results", json={"results": [result]}, timeout=10
    )
    assert response.status_code == 201


def run(plan: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [
            *(
                sys.executable,
                "-c",
                "from walletops.cli import main; main()",
                "cost",
                "actuals",
                "--env",
                "dev",
            ),
            *("--plan", str(plan), "--endpoint-url", url, "--as-of", "2026-11-15", "--format", "json", *args),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(small_plan()))
    return path


def dev_estimate() -> float:
    model = load_environment("dev", ROOT)
    return price(small_plan(), {"dev": model.usage}).environments["dev"].monthly_usd


def test_actuals_read_the_environment_tag_group_and_project_the_month(plan: Path, moto_url: str):
    inject(moto_url, {"dev": "100.00", "prod": "9999.00"})
    result = run(plan, moto_url)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["month_to_date_usd"] == 100.0
    assert data["projected_month_usd"] == 200.0  # 15 of 30 days
    assert data["estimate_usd"] == dev_estimate()
    assert data["over_percent"] == round((200.0 - dev_estimate()) / dev_estimate() * 100, 1)


def test_fail_over_exits_1_when_the_projection_runs_past_the_estimate(plan: Path, moto_url: str):
    projected = dev_estimate() * 1.5
    inject(moto_url, {"dev": f"{projected / 2:.2f}"})
    result = run(plan, moto_url, "--fail-over", "10")
    assert result.returncode == 1
    assert "over estimate: dev projects" in result.stderr


def test_within_the_threshold_passes(plan: Path, moto_url: str):
    inject(moto_url, {"dev": f"{dev_estimate() / 2:.2f}"})
    assert run(plan, moto_url, "--fail-over", "10").returncode == 0
