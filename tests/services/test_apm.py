"""APM: off without ``WALLETSTUB_APM_SERVER_URL``; with it, every service sends transactions, spans for
its database calls and outbound HTTP, and its metrics to APM Server's intake (here a tiny local one),
one trace across services, and the log lines carry the ids of the APM transaction they belong to."""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import elasticapm
import httpx
import pytest
from conftest import Backend, Stack
from ecs_fields import log_lines
from walletstubs.common.apm import agent_config, make_client, secret_token
from walletstubs.common.service import create_app
from walletstubs.common.settings import SettingsError
from walletstubs.common.telemetry import Identity

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("walletstubs")]
TOKEN = "apm-test-token"  # pragma: allowlist secret
FAST = {
    "ELASTIC_APM_API_REQUEST_TIME": "500ms",
    "ELASTIC_APM_METRICS_INTERVAL": "1s",
    "ELASTIC_APM_TRANSACTION_SAMPLE_RATE": "1.0",
}


@dataclass
class Intake:
    """APM Server's intake, as far as the agent needs it: events are recorded, per service."""

    url: str
    events: list[dict[str, Any]] = field(default_factory=list)
    authorizations: set[str] = field(default_factory=set)

    def of(self, kind: str, service: str) -> list[dict[str, Any]]:
        found = []
        current = None
        for event in self.events:
            if "metadata" in event:
                current = event["metadata"]["service"]["name"]
            elif kind in event and current == service:
                found.append(event[kind])
        return found

    def wait_for(self, kind: str, service: str, check: Any, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [item for item in self.of(kind, service) if check(item)]
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(
            f"no {kind} of {service} matching within {timeout}s; got {self.of(kind, service)[:3]}"
        )


@pytest.fixture(scope="module")
def intake() -> Iterator[Intake]:
    recorded = Intake("")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(200, b'{"version": "8.17.0"}')

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            encoding = self.headers.get("content-encoding", "")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            if self.path.startswith("/intake/v2/events"):
                with lock:
                    recorded.authorizations.add(self.headers.get("authorization", ""))
                    recorded.events.extend(json.loads(line) for line in body.splitlines() if line.strip())
            self._answer(202, b"")

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorded.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recorded
    server.shutdown()
    server.server_close()


def test_without_a_url_apm_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WALLETSTUB_APM_SERVER_URL", raising=False)
    assert make_client(Identity("unit", "1", "qa")) is None
    assert elasticapm.get_client() is None

    async def nothing(_app: Any) -> None:
        return None

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        yield

    app = create_app(title="t", description="d", service="unit", lifespan=lifespan, ready=nothing)
    assert [m.cls.__name__ for m in app.user_middleware] == ["TelemetryMiddleware"]  # type: ignore[attr-defined]


def test_the_agent_verifies_apm_server_against_the_platform_ca_when_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """In the cluster APM Server's certificate comes from the platform's Private CA (its bundle in
    ``WALLETSTUB_APM_CA_FILE``); elsewhere the agent still verifies, against the public roots."""
    from elasticapm.conf import Config

    for name in ("WALLETSTUB_APM_SECRET_TOKEN", "WALLETSTUB_APM_SECRET_TOKEN_FILE", "WALLETSTUB_APM_CA_FILE"):
        monkeypatch.delenv(name, raising=False)
    identity = Identity("unit", "1", "qa")
    public = Config(config_dict=agent_config(identity, "https://apm.example.com:8200"))
    assert not public.errors, public.errors
    assert public.verify_server_cert is True and public.server_ca_cert_file is None
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="ascii")
    monkeypatch.setenv("WALLETSTUB_APM_CA_FILE", str(ca))
    private = Config(config_dict=agent_config(identity, "https://walletops-apm-http.observability.svc:8200"))
    assert not private.errors, private.errors
    assert private.verify_server_cert is True and private.server_ca_cert_file == str(ca)


def test_the_token_comes_from_its_file_or_for_local_runs_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.delenv("WALLETSTUB_APM_SECRET_TOKEN_FILE", raising=False)
    monkeypatch.setenv("WALLETSTUB_APM_SECRET_TOKEN", TOKEN)
    assert secret_token() == TOKEN
    path = tmp_path / "secret-token"
    path.write_text(f"  {TOKEN}\n", encoding="utf-8")
    monkeypatch.setenv("WALLETSTUB_APM_SECRET_TOKEN_FILE", str(path))
    with pytest.raises(SettingsError, match="not both"):
        secret_token()
    monkeypatch.delenv("WALLETSTUB_APM_SECRET_TOKEN")
    assert secret_token() == TOKEN
    path.unlink()
    assert secret_token() is None, "an optional secret volume without the key: no token"
    monkeypatch.setenv("WALLETSTUB_APM_SECRET_TOKEN_FILE", str(tmp_path))
    with pytest.raises(SettingsError, match="APM_SECRET_TOKEN_FILE"):
        secret_token()


@pytest.fixture(scope="module")
def traced(
    intake: Intake, backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Wallet, simulated exchange and adapter of their own, sending APM data to the intake; one order
    placed through them."""
    # One intake serves both backends' runs: the previous run's events must not count for this one.
    intake.events.clear()
    intake.authorizations.clear()
    stack = Stack(backend, tmp_path_factory.mktemp(f"apm-{backend.name}"))
    apm = {"WALLETSTUB_APM_SERVER_URL": intake.url, "WALLETSTUB_APM_SECRET_TOKEN": TOKEN, **FAST}
    token_file = tmp_path_factory.mktemp(f"apm-token-{backend.name}") / "secret-token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    from_file = {
        **apm,
        "WALLETSTUB_APM_SECRET_TOKEN": "",
        "WALLETSTUB_APM_SECRET_TOKEN_FILE": str(token_file),
    }
    try:
        wallet = stack.start("wallet", **from_file)  # as in the cluster: the token from a mounted secret
        stack.start("simexchange-testex", **apm)
        adapter = stack.start("exchange-testex", **apm)
        with httpx.Client(timeout=30) as client:
            account = client.post(
                f"{wallet.url}/v1/accounts", json={"owner": "apm", "currency": "EUR"}
            ).json()["id"]
            topup = {"account": account, "amount": "50.00", "currency": "EUR"}
            client.post(f"{wallet.url}/v1/topups", json=topup, headers={"Idempotency-Key": uuid.uuid4().hex})
            client.get(f"{wallet.url}/v1/accounts/{account}")
            body = {"account": account, "symbol": "BTC", "side": "buy", "amount": "5.00", "currency": "EUR"}
            order = client.post(
                f"{adapter.url}/v1/exchanges/testex/orders",
                json=body,
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            assert order.status_code in (201, 202), order.text
            metrics = client.get(f"{wallet.url}/metrics").text
        yield {"stack": stack, "metrics": metrics, "backend": backend.name}
    finally:
        stack.stop_all()


def test_requests_become_transactions_with_database_spans(intake: Intake, traced: dict[str, Any]) -> None:
    [post] = intake.wait_for("transaction", "wallet", lambda t: t["name"] == "POST /v1/topups")
    assert post["type"] == "request" and post["result"] == "HTTP 2xx"
    spans = intake.wait_for(
        "span", "wallet", lambda s: s["transaction_id"] == post["id"] and s["type"] == "db"
    )
    assert any(
        "INSERT" in span["context"]["db"]["statement"] or "ledger_post" in span["context"]["db"]["statement"]
        for span in spans
    )
    assert intake.authorizations == {f"Bearer {TOKEN}"}
    if traced["backend"] == "real":  # the cache is Redis there: its calls are spans too
        assert intake.wait_for("span", "wallet", lambda s: s["type"] == "db" and s["subtype"] == "redis")


def test_one_trace_crosses_adapter_wallet_and_exchange(intake: Intake, traced: dict[str, Any]) -> None:
    [order] = intake.wait_for(
        "transaction", "exchange-testex", lambda t: t["name"].startswith("POST /v1/exchanges")
    )
    calls = intake.wait_for(
        "span", "exchange-testex", lambda s: s["trace_id"] == order["trace_id"] and s["type"] == "external"
    )
    debit = intake.wait_for(
        "transaction",
        "wallet",
        lambda t: t["trace_id"] == order["trace_id"] and t["parent_id"] in {c["id"] for c in calls},
    )
    placed = intake.wait_for(
        "transaction", "simexchange-testex", lambda t: t["trace_id"] == order["trace_id"]
    )
    assert debit and placed
    logged = [
        line
        for line in log_lines(traced["stack"].running["wallet"].log_path)
        if line.get("transaction", {}).get("id") == debit[0]["id"]
    ]
    assert logged and all(line["trace"]["id"] == order["trace_id"] for line in logged)


def test_the_services_metrics_reach_apm(intake: Intake, traced: dict[str, Any]) -> None:
    def ours(metricset: dict[str, Any]) -> bool:
        return any(
            name.startswith("walletstub.walletstub_db_pool_connections") for name in metricset["samples"]
        )

    assert intake.wait_for("metricset", "wallet", ours)
    assert intake.wait_for(
        "metricset",
        "exchange-testex",
        lambda m: any("walletstub_outbox_depth" in name for name in m["samples"]),
    )
    assert "walletstub_db_pool_connections" in traced["metrics"]
