"""Leased claims on work rows (outbox-style relays), the same on PostgreSQL and SQLite.

A relay claims due rows by writing a fresh ``lease_token`` and a ``lease_until`` into them; only rows
whose lease is absent or ran out can be claimed, so two replicas (or a replica and a request still
finishing) never drive one row at once. PostgreSQL selects the rows ``FOR UPDATE SKIP LOCKED`` so
concurrent claimers skip each other instead of queueing; on SQLite every write transaction is ``BEGIN
IMMEDIATE``, which serializes claimers, and the lease predicate makes each claim exclusive. Writers
fence every later update with ``WHERE lease_token = :token``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from walletstubs.common.db import is_sqlite


async def claim_due(
    engine: AsyncEngine,
    table: Table,
    *,
    state_column: str,
    states: Sequence[str],
    lease: timedelta,
    limit: int,
) -> tuple[str, list[str]]:
    """Claim up to ``limit`` rows of ``table`` in one of ``states`` whose ``next_attempt_at`` has come
    and whose lease ran out; the lease token and the claimed primary keys (``id``), oldest due first."""
    now = datetime.now(UTC)
    token = str(uuid.uuid4())
    due = (
        select(table.c.id)
        .where(
            table.c[state_column].in_(states),
            table.c.next_attempt_at <= now,
            or_(table.c.lease_until.is_(None), table.c.lease_until < now),
        )
        .order_by(table.c.next_attempt_at)
        .limit(limit)
    )
    if not is_sqlite(engine):
        due = due.with_for_update(skip_locked=True)
    async with engine.begin() as conn:
        claimed = await conn.execute(
            update(table)
            .where(table.c.id.in_(due.scalar_subquery()))
            .values(lease_token=token, lease_until=now + lease)
            .returning(table.c.id)
        )
        ids = [str(row.id) for row in claimed]
    return token, ids
