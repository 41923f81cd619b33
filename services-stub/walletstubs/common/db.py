"""Async SQLAlchemy engines for both backends, and schema set-up (alembic on PostgreSQL).

SQLite (embedded backend): WAL journal, foreign keys on, a generous busy timeout and ``BEGIN
IMMEDIATE`` for every transaction, so concurrent writers queue instead of failing with "database is
locked" half-way. PostgreSQL (real backend): asyncpg over TLS, schema from the service's alembic
migrations, and on RDS IAM authentication (``WALLETSTUB_DATABASE_IAM_AUTH=1``) instead of a
password. Services see an :class:`AsyncEngine`; a hot path that must cost one round trip (the
wallet's posting) may also get a plain asyncpg pool (:func:`make_pg_pool`) of the same database,
which signs in the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import asyncpg
import elasticapm
from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from walletstubs.common.apm import instrument_engine
from walletstubs.common.settings import PREFIX, SettingsError, env

MIGRATION_LOCK = 7_140_014
"""Advisory lock id held while a service migrates its database."""


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, reads_only: bool = False, pool_size: int = 10) -> AsyncEngine:
    """An engine for ``url`` (``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``) holding at most
    ``pool_size`` connections (PostgreSQL; twice that in bursts).

    ``reads_only`` (SQLite): transactions start with a plain deferred ``BEGIN``, so readers see a
    consistent WAL snapshot without queueing behind writers; use it only for queries that write nothing.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        begin = "BEGIN" if reads_only else "BEGIN IMMEDIATE"
        engine = create_async_engine(url, pool_size=5, max_overflow=5, connect_args={"timeout": 60})

        @event.listens_for(engine.sync_engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=60000"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(connection: Connection) -> None:
            connection.exec_driver_sql(begin)

        return _traced(engine)
    if parsed.get_backend_name() == "postgresql":
        engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_recycle=1800
        )
        token = iam_token_provider(parsed)
        if token is not None:

            @event.listens_for(engine.sync_engine, "do_connect")
            def _sign_in(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
                cparams["password"] = token()

        return _traced(engine)
    raise ValueError(
        f"unsupported database URL scheme {parsed.drivername!r}; use sqlite+aiosqlite or postgresql+asyncpg"
    )


def _traced(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` with an APM span per statement when this process runs the APM agent."""
    if elasticapm.get_client() is not None:
        instrument_engine(engine)
    return engine


async def make_pg_pool(url: str, size: int, *, name: str) -> asyncpg.Pool:
    """A plain asyncpg pool of ``size`` connections to the database of ``url`` (a SQLAlchemy
    ``postgresql+asyncpg://`` URL). No ping per checkout: callers retry an idempotent statement once
    when a pooled connection turns out to be dead."""
    parsed = make_url(url)
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    token = iam_token_provider(parsed)
    return await asyncpg.create_pool(
        dsn,
        password=token,  # asyncpg calls it for every new connection; None keeps the URL's password
        min_size=size,
        max_size=size,
        max_inactive_connection_lifetime=300,
        server_settings={"application_name": name},
    )


def iam_token_provider(url: URL) -> Callable[[], str] | None:
    """RDS IAM authentication (``WALLETSTUB_DATABASE_IAM_AUTH=1``): a function giving a fresh
    15-minute token for every new connection; ``None`` when the URL's own password is used.

    The URL names the user and host but no password; the token is a SigV4-presigned request made
    locally from the pod's/task's role credentials (``AWS_REGION`` names the region).
    """
    if env("DATABASE_IAM_AUTH", "0") != "1":
        return None
    import botocore.session  # only images that use IAM auth need botocore

    region = os.environ.get("AWS_REGION")
    if not region:
        raise SettingsError(f"{PREFIX}DATABASE_IAM_AUTH=1 needs AWS_REGION (the region of the database)")
    if not url.username or not url.host:
        raise SettingsError(f"{PREFIX}DATABASE_URL must name the user and host for IAM authentication")
    client = botocore.session.get_session().create_client("rds", region_name=region)
    host, port, user = url.host, url.port or 5432, url.username

    def token() -> str:
        generated: str = client.generate_db_auth_token(  # type: ignore[attr-defined]
            DBHostname=host, Port=port, DBUsername=user, Region=region
        )
        return generated

    return token


def _alembic_upgrade(connection: Connection, script_location: str) -> None:
    config = Config()
    config.set_main_option("script_location", script_location)
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def prepare_schema(engine: AsyncEngine, metadata: MetaData, script_location: str | None) -> None:
    """Create the schema: ``metadata.create_all`` on SQLite (DDL hooks add triggers), alembic
    ``upgrade head`` from ``script_location`` (``package:folder``) on PostgreSQL. Without migrations
    (``None``: throw-away state such as the simulated exchanges) ``create_all`` on either engine.

    On PostgreSQL the upgrade holds an advisory lock, so the worker processes and replicas of a
    service starting together migrate one after the other."""
    if is_sqlite(engine) or script_location is None:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        return
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        await connection.commit()
        try:
            async with connection.begin():
                await connection.run_sync(_alembic_upgrade, script_location)
        finally:
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            await connection.commit()


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers a trivial query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def run_alembic_env() -> None:
    """Body of each service's alembic ``env.py``: migrate on the connection handed over by
    :func:`prepare_schema` (online mode only; the services never emit offline SQL)."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through walletstubs.common.db.prepare_schema")
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
