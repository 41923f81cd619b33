"""The services' operational metrics: outbox depth and lag, circuit state, idempotent replays, cache
hits and misses, database pool use.

They are Prometheus metrics (``/metrics``, aggregated over workers through
``PROMETHEUS_MULTIPROC_DIR``), and the APM agent reports the same registry as APM metrics
(``PROMETHEUS_METRICS``, see :mod:`walletstubs.common.apm`). Counters move where the event happens;
gauges that need a query (outbox, pools) are refreshed by samplers every :data:`SAMPLE_SECONDS`
while the service runs (:func:`sample_forever`, started by ``common.service``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Gauge
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("walletstubs.metrics")
SAMPLE_SECONDS = 5.0
Sampler = Callable[[], Awaitable[None]]

IDEMPOTENT_REPLAYS = Counter(
    "walletstub_idempotent_replays_total", "Requests answered by replaying a stored answer", ["service"]
)
CACHE_LOOKUPS = Counter(
    "walletstub_cache_lookups_total", "Cache reads by result (hit, miss)", ["service", "result"]
)
CIRCUIT_STATE = Gauge(
    "walletstub_circuit_state",
    "Circuit breaker state: 0 closed, 1 half-open, 2 open",
    ["service", "circuit"],
    multiprocess_mode="max",
)
OUTBOX_DEPTH = Gauge(
    "walletstub_outbox_depth",
    "Rows waiting in an outbox (orders or sweeps not final yet)",
    ["service", "outbox"],
    multiprocess_mode="max",
)
OUTBOX_LAG = Gauge(
    "walletstub_outbox_lag_seconds",
    "Age of the oldest row waiting in an outbox (0 when empty)",
    ["service", "outbox"],
    multiprocess_mode="max",
)
DB_POOL = Gauge(
    "walletstub_db_pool_connections",
    "Database pool connections by state (in_use, size)",
    ["service", "pool", "state"],
    multiprocess_mode="livesum",
)
CIRCUIT_VALUES = {"closed": 0, "half-open": 1, "open": 2}

_service = ["unnamed"]


def set_service(name: str) -> None:
    """The ``service`` label of every metric this process moves (one service per process)."""
    _service[0] = name


def replayed() -> None:
    IDEMPOTENT_REPLAYS.labels(_service[0]).inc()


def cache_lookup(hit: bool) -> None:
    CACHE_LOOKUPS.labels(_service[0], "hit" if hit else "miss").inc()


def circuit(name: str, state: str) -> None:
    """Record circuit ``name`` in ``state`` (pybreaker's names: closed, half-open, open)."""
    CIRCUIT_STATE.labels(_service[0], name).set(CIRCUIT_VALUES.get(state, 2))


def engine_pool(name: str, engine: AsyncEngine) -> Sampler:
    """A sampler of a SQLAlchemy engine's pool: connections checked out, and the pool's size."""

    async def sample() -> None:
        pool: Any = engine.pool
        if hasattr(pool, "checkedout"):
            DB_POOL.labels(_service[0], name, "in_use").set(pool.checkedout())
            DB_POOL.labels(_service[0], name, "size").set(pool.size())

    return sample


def asyncpg_pool(name: str, pool: Any) -> Sampler:
    """A sampler of a plain asyncpg pool: connections in use, and the pool's size."""

    async def sample() -> None:
        DB_POOL.labels(_service[0], name, "in_use").set(pool.get_size() - pool.get_idle_size())
        DB_POOL.labels(_service[0], name, "size").set(pool.get_size())

    return sample


def outbox(
    name: str, engine: AsyncEngine, table: Table, state_column: str, waiting: Sequence[str]
) -> Sampler:
    """A sampler of an outbox table: rows whose ``state_column`` is in ``waiting``, and the age of the
    oldest (by ``created_at``)."""
    column = table.c[state_column]

    async def sample() -> None:
        async with engine.connect() as conn:
            count, oldest = (
                await conn.execute(
                    select(func.count(), func.min(table.c.created_at)).where(column.in_(list(waiting)))
                )
            ).one()
        OUTBOX_DEPTH.labels(_service[0], name).set(int(count))
        if oldest is None:
            OUTBOX_LAG.labels(_service[0], name).set(0)
            return
        oldest = oldest if oldest.tzinfo is not None else oldest.replace(tzinfo=UTC)
        OUTBOX_LAG.labels(_service[0], name).set(max(0.0, (datetime.now(UTC) - oldest).total_seconds()))

    return sample


async def sample_once(samplers: Sequence[Sampler]) -> None:
    """Run every sampler once; one failing (a database away) leaves the others and the service alone."""
    for sampler in samplers:
        try:
            await sampler()
        except Exception as exc:
            log.warning("metrics sampler failed (%s); retrying next round", type(exc).__name__)


async def sample_forever(samplers: Sequence[Sampler], interval: float = SAMPLE_SECONDS) -> None:
    while True:
        await sample_once(samplers)
        await asyncio.sleep(interval)
