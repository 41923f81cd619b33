"""The ``Idempotency-Key`` contract shared by every money-moving POST, and the store behind it.

* The key is 1-255 printable ASCII characters; anything else is a 400 problem on every backend.
* Keys belong to the calling consumer (``X-Consumer``, set by the gateway; absent for calls between
  services on the cluster network, which share the ``internal`` scope), so two consumers' keys never
  collide.
* The answer is stored in the **same transaction** as the effect. A concurrent duplicate waits on the
  key's unique index until the first commits and then replays the stored answer, or gets a 409
  ``in progress`` when that takes longer than a few seconds -- never a placeholder.
* Keys expire after ``WALLETSTUB_IDEMPOTENCY_TTL_HOURS`` (24 h by default); an expired key is
  treated as new, and a background task deletes expired rows in batches.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from walletstubs.common import metrics
from walletstubs.common.db import is_sqlite
from walletstubs.common.problems import Problem
from walletstubs.common.telemetry import audit

log = logging.getLogger("walletstubs.idempotency")
REPLAYED_HEADER = "Idempotent-Replayed"
INTERNAL_CONSUMER = "internal"
KEY_PATTERN = r"^[\x21-\x7e]+$"
CONSUMER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$"
LOCK_WAIT_SECONDS = 5
PURGE_BATCH = 1000

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=KEY_PATTERN,
        description="Unique per operation (1-255 printable ASCII characters); retries with the same key and "
        "body replay the first answer for 24 hours",
    ),
]
Consumer = Annotated[
    str | None,
    Header(
        alias="X-Consumer",
        pattern=CONSUMER_PATTERN,
        description="Set by the gateway (never by clients): the calling consumer; idempotency keys and "
        "client ids are scoped to it",
    ),
]


def consumer_of(header: str | None) -> str:
    """The idempotency scope of a caller: the gateway's consumer, or ``internal`` between services."""
    return header or INTERNAL_CONSUMER


def key_table(metadata: MetaData) -> Table:
    """The ``idempotency_keys`` table of a service (same shape in every service)."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("scope", String(128), nullable=False),
        Column("key", String(255), nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer, nullable=False),
        Column("response_body", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )


def request_hash(scope: str, body: Any) -> str:
    """Fingerprint of a request body (canonical JSON) within ``scope``."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{scope}\n{canonical}".encode()).hexdigest()


def derived_id(prefix: str, consumer: str, value: str) -> str:
    """A stable id of at most ``len(prefix) + 32`` characters for ``value`` within ``consumer``: what we
    send to systems that limit id length (an exchange's client order id), the same on every retry."""
    digest = hashlib.sha256(f"{consumer}\n{value}".encode()).digest()
    return prefix + base64.b32encode(digest).decode().rstrip("=").lower()[:32]


def replayed(key: str) -> None:
    """Count and audit one answer given again for ``key`` instead of doing the work twice."""
    metrics.replayed()
    audit("idempotency.replayed", "replayed the stored answer for key %s", key, idempotency_key=key)


def replay(stored_hash: str, new_hash: str, status: int, body: str, key: str) -> JSONResponse:
    """The stored answer for ``key``, or a 422 when the key was used with a different body."""
    if stored_hash != new_hash:
        raise Problem(
            422,
            "idempotency-key-reused",
            "Idempotency-Key reused with a different request",
            f"Idempotency-Key {key!r} was already used with a different request body; use a new key",
        )
    replayed(key)
    media_type = "application/problem+json" if status >= 400 else "application/json"
    return JSONResponse(
        json.loads(body), status_code=status, headers={REPLAYED_HEADER: "true"}, media_type=media_type
    )


def in_progress(key: str) -> Problem:
    """The answer to a duplicate whose first request is still running after the lock wait."""
    return Problem(
        409,
        "idempotency-in-progress",
        "Request in progress",
        f"a request with Idempotency-Key {key!r} is still being processed; retry in a second",
        headers={"Retry-After": "1"},
    )


def is_lock_timeout(exc: DBAPIError) -> bool:
    """True for PostgreSQL's ``lock_not_available`` (our bounded wait on a duplicate key)."""
    return getattr(exc.orig, "sqlstate", None) == "55P03" or "lock timeout" in str(exc.orig).lower()


@dataclass(frozen=True)
class Stored:
    """A live stored answer."""

    request_hash: str
    status_code: int
    response_body: str


Work = Callable[[AsyncConnection], Awaitable[tuple[int, dict[str, Any]]]]


class IdempotencyStore:
    """Claims, stores and replays keys in one service's ``idempotency_keys`` table."""

    def __init__(self, engine: AsyncEngine, table: Table, ttl: timedelta) -> None:
        self.engine = engine
        self.table = table
        self.ttl = ttl

    async def claim(self, conn: AsyncConnection, scope: str, key: str, fingerprint: str) -> Stored | None:
        """Inside the caller's transaction: the live answer for ``(scope, key)``, or None after claiming
        the key (the claim row holds the unique index until commit, so duplicates wait behind it)."""
        table, now = self.table, datetime.now(UTC)
        if not is_sqlite(self.engine):
            await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT_SECONDS}s'"))
        await conn.execute(
            delete(table).where(table.c.scope == scope, table.c.key == key, table.c.expires_at <= now)
        )
        found = (await conn.execute(select(table).where(table.c.scope == scope, table.c.key == key))).first()
        if found is not None:
            return Stored(found.request_hash, found.status_code, found.response_body)
        await conn.execute(
            insert(table).values(
                scope=scope,
                key=key,
                request_hash=fingerprint,
                status_code=0,
                response_body="",
                created_at=now,
                expires_at=now + self.ttl,
            )
        )
        return None

    async def store(
        self, conn: AsyncConnection, scope: str, key: str, status: int, answer: dict[str, Any]
    ) -> None:
        """Write the answer into the claimed row, in the same transaction as the effect."""
        await conn.execute(
            update(self.table)
            .where(self.table.c.scope == scope, self.table.c.key == key)
            .values(status_code=status, response_body=json.dumps(answer))
        )

    async def run(self, scope: str, key: str, fingerprint: str, work: Work) -> JSONResponse:
        """Do ``work`` once per ``(scope, key)``: claim, work, store the answer, commit. A concurrent
        duplicate replays the stored answer; a :class:`Problem` raised by ``work`` rolls back everything,
        the claim included (a refusal is not stored: a retry may succeed once the cause is gone)."""
        for _ in range(3):
            try:
                async with self.engine.begin() as conn:
                    stored = await self.claim(conn, scope, key, fingerprint)
                    if stored is not None:
                        return replay(
                            stored.request_hash, fingerprint, stored.status_code, stored.response_body, key
                        )
                    status, answer = await work(conn)
                    await self.store(conn, scope, key, status, answer)
                return JSONResponse(answer, status_code=status)
            except IntegrityError:
                continue
            except DBAPIError as exc:
                if is_lock_timeout(exc):
                    raise in_progress(key) from exc
                raise
        raise in_progress(key)

    async def purge_expired(self) -> int:
        """Delete up to one batch of expired keys; the number deleted."""
        table = self.table
        expired = (
            select(table.c.scope, table.c.key)
            .where(table.c.expires_at <= datetime.now(UTC))
            .limit(PURGE_BATCH)
            .subquery()
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(table).where(tuple_(table.c.scope, table.c.key).in_(select(expired)))
            )
        return int(result.rowcount or 0)

    async def purge_forever(self, interval: float) -> None:
        """Background task: purge expired keys every ``interval`` seconds."""
        while True:
            await asyncio.sleep(interval)
            try:
                while await self.purge_expired() >= PURGE_BATCH:
                    await asyncio.sleep(0)
            except Exception:
                log.exception("purging expired idempotency keys failed; retrying next round")
