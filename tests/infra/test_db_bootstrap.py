"""The ledger's DB bootstrap against a real PostgreSQL: one IAM-only role and private schema per service."""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from walletstubs.localstack.servers import DB_USER, PostgresServer, free_port

from infra import db_bootstrap

ROLES = ["exchange_kraken", "roundups", "wallet"]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL with a ``ledger`` database and an ``rds_iam`` role standing in for RDS's."""
    root = Path(tempfile.mkdtemp(prefix="walletops-bootstrap-"))
    root.chmod(0o755)
    server = PostgresServer(root / "postgres", free_port(), secrets.token_urlsafe(18))
    server.start()
    try:
        server.create_database("ledger")
        asyncio.run(_execute(server, "CREATE ROLE rds_iam NOLOGIN"))
        yield server
    finally:
        server.stop()


async def _connect(server: PostgresServer) -> asyncpg.Connection:
    return await asyncpg.connect(
        host="127.0.0.1",
        port=server.port,
        user=DB_USER,
        password=server.password,
        database="ledger",
        ssl="require",
    )


async def _execute(server: PostgresServer, *statements: str) -> list[Any]:
    connection = await _connect(server)
    try:
        return [await connection.fetch(statement) for statement in statements]
    finally:
        await connection.close()


def _bootstrap(server: PostgresServer) -> None:
    master = {"username": DB_USER, "password": server.password}
    asyncio.run(db_bootstrap.run("127.0.0.1", server.port, "ledger", ROLES, master=master, ssl="require"))


def test_each_service_gets_an_iam_only_role_owning_its_schema(postgres: PostgresServer) -> None:
    _bootstrap(postgres)
    _bootstrap(postgres)  # idempotent: every deploy may run it again
    [roles, members, schemas, settings] = asyncio.run(
        _execute(
            postgres,
            "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
            "WHERE rolname = ANY('{exchange_kraken,roundups,wallet}')",
            "SELECT m.rolname FROM pg_auth_members a JOIN pg_roles r ON a.roleid = r.oid "
            "JOIN pg_roles m ON a.member = m.oid WHERE r.rolname = 'rds_iam'",
            "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace "
            "WHERE nspname = ANY('{exchange_kraken,roundups,wallet}')",
            "SELECT pg_get_userbyid(setrole), setconfig FROM pg_db_role_setting WHERE setrole <> 0",
        )
    )
    assert sorted(
        (r["rolname"], r["rolcanlogin"], r["rolsuper"], r["rolcreatedb"], r["rolcreaterole"]) for r in roles
    ) == [(role, True, False, False, False) for role in ROLES]
    assert sorted(m["rolname"] for m in members) == ROLES
    assert sorted((s["nspname"], s["pg_get_userbyid"]) for s in schemas) == [(role, role) for role in ROLES]
    assert {s["pg_get_userbyid"]: s["setconfig"] for s in settings} == {
        role: [f"search_path={role}"] for role in ROLES
    }


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE roundups.stolen (id int)",
        "CREATE TABLE public.shared (id int)",
    ],
)
def test_a_service_cannot_write_outside_its_own_schema(postgres: PostgresServer, statement: str) -> None:
    _bootstrap(postgres)

    async def attempt() -> None:
        connection = await _connect(postgres)
        try:
            await connection.execute("SET ROLE wallet")
            await connection.execute(statement)
        finally:
            await connection.close()

    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        asyncio.run(attempt())


def test_a_service_creates_its_tables_in_its_own_schema(postgres: PostgresServer) -> None:
    _bootstrap(postgres)

    async def create() -> str:
        connection = await _connect(postgres)
        try:
            await connection.execute("SET ROLE wallet")
            await connection.execute("SET search_path = wallet")
            await connection.execute("CREATE TABLE IF NOT EXISTS accounts (id int)")
            return str(
                await connection.fetchval("SELECT schemaname FROM pg_tables WHERE tablename = 'accounts'")
            )
        finally:
            await connection.close()

    assert asyncio.run(create()) == "wallet"


def test_main_reads_the_master_secret_file_and_reports_failures(
    postgres: PostgresServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = tmp_path / "master.json"
    secret.write_text(json.dumps({"username": DB_USER, "password": postgres.password}))
    for key, value in {
        "MASTER_SECRET_FILE": str(secret),
        "BOOTSTRAP_ROLES": json.dumps(ROLES),
        "DATABASE_HOST": "127.0.0.1",
        "DATABASE_PORT": str(postgres.port),
        "DATABASE_NAME": "ledger",
    }.items():
        monkeypatch.setenv(key, value)
    assert db_bootstrap.main() == 0
    assert "roles exchange_kraken, roundups, wallet ready" in capsys.readouterr().out
    monkeypatch.setenv("MASTER_SECRET_FILE", str(tmp_path / "missing.json"))
    assert db_bootstrap.main() == 1
    assert "db bootstrap failed: FileNotFoundError" in capsys.readouterr().err


def test_role_names_must_be_plain_identifiers() -> None:
    with pytest.raises(ValueError, match="plain PostgreSQL identifier"):
        db_bootstrap.bootstrap_statements(['wallet"; DROP ROLE x; --'], "ledger")
