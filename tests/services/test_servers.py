"""Local PostgreSQL and Redis: loopback only, password required, TLS on PostgreSQL, unprivileged users,
and loud when they cannot start."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import tempfile
from pathlib import Path

import asyncpg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from walletstubs.localstack.servers import PostgresServer, RedisServer, ServerError, free_port

NO_RETRY = Retry(NoBackoff(), 0)
pytestmark = [pytest.mark.service, pytest.mark.xdist_group("walletstubs")]


def _owner_of_listener(port: int) -> str:
    lines = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    pid = int(lines.split("pid=")[1].split(",")[0])
    return Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0]


def test_postgres_is_tls_and_password_only_on_loopback(real_servers: object) -> None:
    postgres: PostgresServer = real_servers.postgres  # type: ignore[attr-defined]
    postgres.create_database("servers_check")
    postgres.create_database("servers_check")

    async def session(password: str) -> tuple[bool, str]:
        url = f"postgresql://walletops:{password}@127.0.0.1:{postgres.port}/servers_check"
        connection = await asyncpg.connect(url, ssl="require")
        try:
            encrypted = await connection.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            return bool(encrypted), str(await connection.fetchval("SHOW listen_addresses"))
        finally:
            await connection.close()

    assert asyncio.run(session(postgres.password)) == (True, "127.0.0.1")
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(session("wrong-password-123"))

    async def plaintext() -> None:
        await asyncpg.connect(
            postgres.url("servers_check").replace("postgresql+asyncpg", "postgresql"), ssl=False
        )

    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        asyncio.run(plaintext())
    if os.geteuid() == 0:
        assert _owner_of_listener(postgres.port) != "0"
    assert not (postgres.data_dir.stat().st_mode & 0o077)


def test_redis_requires_its_password_on_loopback(real_servers: object) -> None:
    server: RedisServer = real_servers.redis  # type: ignore[attr-defined]
    client = redis.Redis.from_url(server.url(3))
    client.set("servers-check", "1")
    assert client.get("servers-check") == b"1"
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=server.port, password="wrong-password-123", retry=NO_RETRY).ping()
    with pytest.raises((redis.ResponseError, redis.AuthenticationError), match=r"(?i)auth"):
        redis.Redis(host="127.0.0.1", port=server.port, retry=NO_RETRY).get("servers-check")
    if os.geteuid() == 0:
        assert _owner_of_listener(server.port) != "0"


def test_a_start_failure_is_loud_and_names_the_cause(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        with pytest.raises(ServerError, match="not searchable by user 'redis'"):
            RedisServer(tmp_path / "redis", free_port(), "redis-password-1234").start(timeout=5)
    root = Path(tempfile.mkdtemp(prefix="walletstubs-busy-"))
    root.chmod(0o755)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with pytest.raises(ServerError, match=str(taken)):
            RedisServer(root / "redis", taken, "redis-password-1234").start(timeout=5)
        postgres = PostgresServer(root / "pg", taken, "pg-password-12345", ssl=False)
        with pytest.raises(ServerError, match="did not start"):
            postgres.start(timeout=10)


def test_passwords_and_database_names_are_checked() -> None:
    with pytest.raises(ValueError, match="12-128 characters"):
        RedisServer(Path("/tmp/unused"), free_port(), "short")
    with pytest.raises(ValueError, match="lower-case"):
        PostgresServer(Path("/tmp/unused"), free_port(), "pg-password-12345").create_database(
            "Robert'); DROP"
        )
