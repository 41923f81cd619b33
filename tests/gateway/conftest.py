"""Shared fixtures for the gateway tests: the effective rules of dev, generated API keys and end-user
tokens, a loopback upstream that echoes what the gateway forwarded, and the parity table: one list of
requests that nginx, the in-process gateway and the API Gateway + WAF rendering must each answer with
the same status (and, when forwarded, the same identity headers)."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from walletstubs.gateway.jwt import TokenIssuer, read_jwks, read_spki, write_keys

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
            "user": self.headers.get("X-User-Sub"),
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

    do_GET = do_POST = do_PUT = _answer

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


ISSUER = "https://cognito-idp.localhost/walletops-test"
USER = "user-42"


@dataclass(frozen=True)
class Tokens:
    """End-user tokens of every kind the table uses, and the issuer's public keys."""

    issuer: str
    subject: str
    jwks: dict[str, Any]
    spki: dict[str, str]
    by_kind: dict[str, str]


@pytest.fixture(scope="session")
def tokens(rules: EffectiveRules) -> Iterator[Tokens]:
    folder, other = (
        Path(tempfile.mkdtemp(prefix="walletops-jwt-")),
        Path(tempfile.mkdtemp(prefix="walletops-jwt-")),
    )
    write_keys(folder, kid="test-key")
    write_keys(other, kid="test-key")
    issuer, forger = TokenIssuer(folder, ISSUER), TokenIssuer(other, ISSUER)
    scope = [rules.oauth_scope]
    by_kind = {
        "valid": issuer.token(USER, client_id="mobile-app", scopes=scope),
        "expired": issuer.token(USER, client_id="mobile-app", scopes=scope, now=time.time() - 7200),
        "forged": forger.token(USER, client_id="mobile-app", scopes=scope),
        "wrong issuer": issuer.token(
            USER, client_id="mobile-app", scopes=scope, issuer="https://evil.example"
        ),
        "wrong scope": issuer.token(USER, client_id="mobile-app", scopes=["wallet/other"]),
        "id token": issuer.token(USER, client_id="mobile-app", scopes=scope, kind="id"),
        "unknown client": issuer.token(USER, client_id="stranger", scopes=scope),
    }
    yield Tokens(ISSUER, USER, read_jwks(folder), read_spki(folder), by_kind)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(other, ignore_errors=True)


@dataclass(frozen=True)
class Case:
    """One request and the status every gateway must answer it with."""

    name: str
    method: str
    target: str
    consumer: str | None
    status: int
    wrong_key: bool = False
    body_bytes: int = 0
    chunked: bool = False
    token: str | None = "valid"
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]


SPOOFED = (("X-Consumer", "operator"), ("X-User-Sub", "someone-else"), ("X-Api-Key-Extra", "x"))
CONTRACT: tuple[Case, ...] = (
    Case("missing key", "GET", "/v1/accounts/abc", None, 401),
    Case("wrong key", "GET", "/v1/accounts/abc", "mobile-app", 401, wrong_key=True),
    Case("public route, public key", "GET", "/v1/accounts/abc", "mobile-app", 200),
    Case(
        "spoofed identity headers are replaced", "GET", "/v1/accounts/abc", "mobile-app", 200, headers=SPOOFED
    ),
    Case("exchange route expanded per exchange", "POST", "/v1/exchanges/coinbase/orders", "partner-api", 200),
    Case("unknown exchange has no route", "POST", "/v1/exchanges/nasdaqx/orders", "partner-api", 404),
    Case("prefix matches whole segments only", "GET", "/v1/accountsX", "mobile-app", 404),
    Case("operator route, public key", "GET", "/v1/ledger/verify", "mobile-app", 403, token=None),
    Case(
        "operator route, operator key, no end user", "GET", "/v1/ledger/verify", "operator", 200, token=None
    ),
    Case("method not allowed on route", "GET", "/v1/topups", "mobile-app", 405),
    Case("unknown method", "PATCH", "/v1/accounts/abc", "mobile-app", 405),
    Case("encoded traversal %2e%2e", "GET", "/v1/accounts/%2e%2e/ledger/verify", "mobile-app", 400),
    Case("encoded traversal %2E%2E", "GET", "/v1/accounts/%2E%2E/ledger/verify", "mobile-app", 400),
    Case("encoded slash", "GET", "/v1/ledger%2fverify", "operator", 400, token=None),
    Case("dot dot with encoded slash", "GET", "/v1/accounts/..%2fledger/verify", "mobile-app", 400),
    Case("raw traversal", "GET", "/v1/accounts/../ledger/verify", "mobile-app", 400),
    Case("empty segment", "GET", "/v1//ledger/verify", "operator", 400, token=None),
    Case("dot segment", "GET", "/v1/accounts/./abc", "mobile-app", 400),
    Case(
        "blocked pattern: encoded script tag in path", "GET", "/v1/accounts/%3Cscript%3E", "mobile-app", 403
    ),
    Case("blocked pattern in the query", "GET", "/v1/accounts?q=1%20UNION%20SELECT%201", "mobile-app", 403),
    Case("blocked pattern encoded in the query", "GET", "/v1/accounts/abc?q=%3Cscript%3E", "mobile-app", 403),
    Case("harmless query", "GET", "/v1/accounts/abc?limit=5", "mobile-app", 200),
    Case("body at the limit", "POST", "/v1/transfers", "mobile-app", 200, body_bytes=16384),
    Case("oversized body", "POST", "/v1/transfers", "mobile-app", 413, body_bytes=16385),
    Case(
        "oversized chunked body", "POST", "/v1/transfers", "mobile-app", 413, body_bytes=16385, chunked=True
    ),
    Case(
        "chunked body at the limit",
        "POST",
        "/v1/transfers",
        "mobile-app",
        200,
        body_bytes=16384,
        chunked=True,
    ),
    *(
        Case(f"end-user token: {kind}", "GET", "/v1/accounts/abc", "mobile-app", 401, token=kind)
        for kind in (None, "expired", "forged", "wrong issuer", "wrong scope", "id token", "unknown client")
    ),
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Any test taking ``case`` runs once per contract case."""
    if "case" in metafunc.fixturenames:
        metafunc.parametrize("case", CONTRACT, ids=[case.name for case in CONTRACT])


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def send(port: int, case: Case, keys: dict[str, str], tokens: Tokens) -> Answer:
    """``case`` as raw HTTP/1.1 on a fresh connection: the target exactly as written (no client-side
    normalization of dots or percent-escapes), chunked when asked."""
    lines = [f"{case.method} {case.target} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines.append("Content-Type: application/json")
    if case.consumer is not None:
        key = keys[case.consumer]
        lines.append(f"X-Api-Key: {'wrong-' + key if case.wrong_key else key}")
    if case.token is not None:
        lines.append(f"Authorization: Bearer {tokens.by_kind[case.token]}")
    lines += [f"{name}: {value}" for name, value in case.headers]
    body = b"x" * case.body_bytes
    if case.chunked:
        lines.append("Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in _parts(body)) + b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall("\r\n".join(lines).encode() + b"\r\n\r\n" + payload)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        rest = _unchunk(rest)
    return Answer(int(status_line.split()[1]), headers, rest)


def _parts(body: bytes, size: int = 4096) -> list[bytes]:
    return [body[index : index + size] for index in range(0, len(body), size)] or [b""]


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


Ask = Callable[[int, Case], Answer]
Verdict = Callable[..., None]


@pytest.fixture
def ask(keys: dict[str, str], tokens: Tokens) -> Ask:
    """Send a case of the table to a gateway listening on a loopback port."""
    return lambda port, case: send(port, case, keys, tokens)


@pytest.fixture
def verdict() -> Verdict:
    """Check a gateway's answer to a case against the table."""
    return check_answer


def check_answer(case: Case, answer: Answer, consumer_id: str | None = None) -> None:
    """The common verdict: status, problem documents for refusals, identity headers when forwarded."""
    assert answer.status == case.status, (case.name, answer.status, answer.body[:300])
    if case.status != 200:
        assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
        assert answer.json()["status"] == case.status
        return
    echoed = answer.json()
    assert echoed["consumer"] == (consumer_id or case.consumer)
    assert echoed["user"] == ("none" if case.token is None else USER)
    assert echoed["api_key_forwarded"] is False
    assert echoed["body_bytes"] == case.body_bytes
