"""Fixtures for the stub-service tests: both backends, and services as real processes on loopback.

``backend`` is parametrized: ``embedded`` (SQLite files, in-process cache) and ``real``
(PostgreSQL 15 + Redis 7 started once per test session by ``walletstubs.localstack.servers`` on
free ports; marked ``service``). Databases are fresh for each test session. Services are started from
``walletstubs.localstack.topology`` exactly as the local stack starts them, on free ports, and can be
``kill -9``-ed and restarted.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from walletstubs.localstack.servers import PostgresServer, RedisServer, free_port
from walletstubs.localstack.topology import ServiceProcess, database_names, service_names, service_processes

from contracts.config import ExchangeConfig

pytestmark = pytest.mark.xdist_group("walletstubs")

EXCHANGE = ExchangeConfig(
    name="testex",
    kind="crypto",
    base_url="https://api.testex.example",
    egress_hosts=["api.testex.example"],
    secrets=["api_key", "api_secret"],
    fee_bps=25,
    timeout_ms=500,
    image="ghcr.io/walletco/exchange-adapter:1.4.0",
    cpu_millicores=250,
    memory_mib=256,
    min_replicas=1,
    max_replicas=2,
)


@dataclass
class RealServers:
    postgres: PostgresServer
    redis: RedisServer


@pytest.fixture(scope="session")
def real_servers() -> Iterator[RealServers]:
    """PostgreSQL and Redis for the whole session; a start failure fails the tests loudly."""
    root = Path(tempfile.mkdtemp(prefix="walletstubs-servers-"))
    root.chmod(0o755)
    postgres = PostgresServer(root / "postgres", free_port(), secrets.token_urlsafe(18))
    redis = RedisServer(root / "redis", free_port(), secrets.token_urlsafe(18))
    postgres.start()
    try:
        redis.start()
    except Exception:
        postgres.stop()
        raise
    yield RealServers(postgres, redis)
    redis.stop()
    postgres.stop()


@dataclass
class Backend:
    """Where services keep state for one test: per-service database URLs (None = SQLite) and cache."""

    name: str
    database_urls: dict[str, str] | None
    cache_url: str | None


def _real_backend(servers: RealServers) -> Backend:
    """Fresh databases for every service on the session's PostgreSQL, and its Redis."""
    suffix = uuid.uuid4().hex[:10]
    urls = {}
    for service, database in database_names([EXCHANGE]).items():
        name = f"{database}_{suffix}"
        servers.postgres.create_database(name)
        urls[service] = servers.postgres.url(name)
    return Backend("real", urls, servers.redis.url())


@pytest.fixture(scope="session", params=["embedded", pytest.param("real", marks=pytest.mark.service)])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "embedded":
        return Backend("embedded", None, None)
    return _real_backend(request.getfixturevalue("real_servers"))


@dataclass
class RunningService:
    """A service process we started; ``kill9`` and ``start`` let a test crash and revive it."""

    spec: ServiceProcess
    log_path: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.spec.url

    def start(self, timeout: float = 30) -> None:
        env = {**self.spec.environ(), **self.env_overrides}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.spec.argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.spec.name} exited at start-up:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.spec.name} not ready within {timeout}s:\n{self.log_tail()}")

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def wait_dead(self, timeout: float = 30) -> int:
        """Wait until the process has exited (a crash point fired); its exit status."""
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def log_tail(self, lines: int = 8) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Stack:
    """The services of one test, wired by the topology; start only the ones a test needs."""

    def __init__(self, backend: Backend, state_dir: Path) -> None:
        names = service_names([EXCHANGE])
        ports = {name: free_port() for name in names}
        self.backend = backend
        self.specs = {
            spec.name: spec
            for spec in service_processes(
                [EXCHANGE],
                ports=ports,
                state_dir=state_dir,
                database_urls=backend.database_urls,
                cache_url=backend.cache_url,
            )
        }
        self.state_dir = state_dir
        self.running: dict[str, RunningService] = {}

    def start(self, name: str, **env_overrides: str) -> RunningService:
        """Start ``name`` unless it already runs (then the same overrides are required)."""
        running = self.running.get(name)
        if running is not None and running.process is not None and running.process.poll() is None:
            assert running.env_overrides == env_overrides, f"{name} already runs with {running.env_overrides}"
            return running
        service = RunningService(self.specs[name], self.state_dir / f"{name}.log", env_overrides)
        service.start()
        self.running[name] = service
        return service

    def restart(self, name: str, **env_overrides: str) -> RunningService:
        """Stop ``name`` if it runs, then start it with ``env_overrides`` (a test's own knobs)."""
        running = self.running.get(name)
        if running is not None:
            running.stop()
        service = RunningService(self.specs[name], self.state_dir / f"{name}.log", env_overrides)
        service.start()
        self.running[name] = service
        return service

    def stop_all(self) -> None:
        for service in reversed(self.running.values()):
            service.stop()


@pytest.fixture(scope="session")
def stack(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One set of services per backend for the session (starting processes is the slow part); tests
    share them, so they use their own accounts and keys, compare before/after, and leave nothing pending."""
    stack = Stack(backend, tmp_path_factory.mktemp(f"stack-{backend.name}"))
    yield stack
    stack.stop_all()


@pytest.fixture
def real_stack(real_servers: RealServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own on the real backend, for a test that stops PostgreSQL or Redis under it."""
    stack = Stack(_real_backend(real_servers), tmp_path_factory.mktemp("real-stack"))
    yield stack
    stack.stop_all()


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "instance"} <= body.keys()
    assert body["status"] == status
    return body


@pytest.fixture
def problem() -> Callable[[httpx.Response, int], dict[str, Any]]:
    """Assert a response is an RFC 9457 problem with the given status; returns its body."""
    return _problem


def _fuzz(base_url: str, *extra: str) -> str:
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{base_url}/openapi.json",
        "--checks=not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance",
        "--phases=examples,coverage,fuzzing",
        "--max-examples=5",
        "--workers=1",
        "--seed=20261125",
        *extra,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


@pytest.fixture
def fuzz() -> Callable[..., str]:
    """Run schemathesis against a service's OpenAPI: no 5xx, responses match the schema (else fail)."""
    return _fuzz
