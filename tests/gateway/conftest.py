"""Shared fixtures for the gateway tests: the effective rules of dev, generated keys, a loopback
upstream that echoes what the gateway forwarded, and the request/answer contract both gateways meet."""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from contracts.config import load_environment
from contracts.gateway_rules import EffectiveRules, effective_rules
from contracts.gateway_spec import load_gateway_spec

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def rules() -> EffectiveRules:
    exchanges = [exchange.name for exchange in load_environment("dev", PROJECT).exchanges]
    return effective_rules(load_gateway_spec(PROJECT), exchanges)


@pytest.fixture(scope="session")
def keys(rules: EffectiveRules) -> dict[str, str]:
    return {consumer.name: secrets.token_urlsafe(32) for consumer in rules.consumers}


class _Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        document = {
            "method": self.command,
            "path": self.path,
            "consumer": self.headers.get("X-Consumer"),
            "request_id": self.headers.get("X-Request-Id"),
            "api_key_forwarded": self.headers.get("X-Api-Key") not in (None, ""),
            "body_bytes": len(body),
            "port": self.server.server_address[1],
        }
        data = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        return


@dataclass(frozen=True)
class Upstream:
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    """A loopback HTTP server on a free port answering every request with what it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Upstream(int(server.server_address[1]))
    server.shutdown()
    server.server_close()


@pytest.fixture
def service_dir() -> Iterator[Path]:
    """A folder the unprivileged service account can reach (pytest's tmp_path is root-only when root)."""
    folder = Path(tempfile.mkdtemp(prefix="walletops-gw-", dir="/tmp"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class Case:
    """One request and the status both gateways must answer it with."""

    name: str
    method: str
    path: str
    consumer: str | None
    status: int
    wrong_key: bool = False
    body_bytes: int = 0


CONTRACT: tuple[Case, ...] = (
    Case("missing key", "GET", "/v1/accounts/abc", None, 401),
    Case("wrong key", "GET", "/v1/accounts/abc", "mobile-app", 401, wrong_key=True),
    Case("public route, public key", "GET", "/v1/accounts/abc", "mobile-app", 200),
    Case("exchange route expanded per exchange", "POST", "/v1/exchanges/coinbase/orders", "partner-api", 200),
    Case("unknown exchange has no route", "POST", "/v1/exchanges/nasdaqx/orders", "partner-api", 404),
    Case("prefix matches whole segments only", "GET", "/v1/accountsX", "mobile-app", 404),
    Case("operator route, public key", "GET", "/v1/ledger/verify", "mobile-app", 403),
    Case("operator route, operator key", "GET", "/v1/ledger/verify", "operator", 200),
    Case("method not allowed on route", "GET", "/v1/topups", "mobile-app", 405),
    Case(
        "blocked pattern: encoded script tag in path", "GET", "/v1/accounts/%3Cscript%3E", "mobile-app", 403
    ),
    Case("blocked pattern: sql injection", "GET", "/v1/accounts?q=1%20UNION%20SELECT%201", "mobile-app", 403),
    Case("body at the limit", "POST", "/v1/transfers", "mobile-app", 200, body_bytes=16384),
    Case("oversized body", "POST", "/v1/transfers", "mobile-app", 413, body_bytes=16385),
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Any test taking ``case`` runs once per contract case."""
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", CONTRACT, ids=[case.name for case in CONTRACT])


@pytest.fixture
def case_request(case: Case, keys: dict[str, str]) -> dict[str, object]:
    """``httpx`` request arguments for ``case``: method, path, key header and body."""
    headers = {"Content-Type": "application/json"}
    if case.consumer is not None:
        key = keys[case.consumer]
        headers["X-Api-Key"] = ("wrong-" + key) if case.wrong_key else key
    return {"method": case.method, "url": case.path, "headers": headers, "content": b"x" * case.body_bytes}
