"""The smoke test against a real wallet process: passes on a healthy service, names the failing part."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from pipelines.results import Status
from pipelines.smoke import SmokeTarget, smoke


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def wallet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("wallet")
    port = _free_port()
    env = {
        **os.environ,
        "WALLETSTUB_PORT": str(port),
        "WALLETSTUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/wallet.db",
        "WALLETSTUB_CACHE_URL": "memory://",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "walletstubs.wallet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "wallet did not start"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_smoke_moves_money_and_checks_the_ledger(wallet: str) -> None:
    result = smoke(SmokeTarget(wallet, label="wallet"))
    assert result.status is Status.passed, result.to_document()
    assert [c.name for c in result.checks] == ["health", "one transfer", "ledger verify"]
    assert "1.23 EUR transferred" in result.checks[1].summary
    assert result.checks[2].summary.startswith("ledger balanced")


def test_smoke_fails_at_health_when_nothing_answers_and_stops_there() -> None:
    result = smoke(SmokeTarget(f"http://127.0.0.1:{_free_port()}"), timeout=2)
    assert result.status is Status.failed
    assert [c.name for c in result.checks] == ["health"]


def test_smoke_names_the_request_the_service_refused(wallet: str) -> None:
    result = smoke(SmokeTarget(wallet + "/nowhere", label="wrong path"))
    assert result.status is Status.failed
    assert "GET /healthz: 404" in result.checks[0].summary


def test_a_gateway_target_sends_the_end_users_token_beside_the_key() -> None:
    """The gateway wants both on public routes (the key names the app, the token the end user);
    operator routes take the operator's key alone."""
    from pipelines.smoke import _call

    seen: list[httpx.Headers] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(201, json={})

    target = SmokeTarget("http://gateway", api_key="app-key", operator_key="ops-key", token="jwt")
    with httpx.Client(base_url=target.url, transport=httpx.MockTransport(answer)) as http:
        _call(http, target, "POST", "/v1/accounts", {"owner": "u"}, expect=201)
        _call(http, target, "POST", "/v1/topups", {}, expect=201, operator=True)
    assert seen[0]["X-Api-Key"] == "app-key" and seen[0]["Authorization"] == "Bearer jwt"
    assert seen[1]["X-Api-Key"] == "ops-key" and "Authorization" not in seen[1]
