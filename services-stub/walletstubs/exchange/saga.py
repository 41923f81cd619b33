"""The order saga: debit the wallet, place the order at the exchange, or refund -- safe by construction.

Every order row names the step to run next, committed **before** that step runs::

    debiting ──wallet 201──► placing ──exchange 200/201──► placed
       │                        │
       └─wallet 422─► rejected  └─exchange refuses (400/404/422)─► compensating ──wallet 201──► refunded

* A re-drive after any crash or timeout repeats only the step the row names, with the same keys
  (wallet ``exchange-order:<exchange>:<id>:debit|refund``, the exchange's client order id ``id``), so
  it is idempotent. ``compensating`` only moves forward: once a refund is intended the order is never
  placed again.
* Rows are claimed with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite ``BEGIN
  IMMEDIATE`` serializes the claim) that outlives the worst-case step and is renewed by a heartbeat
  while its driver lives, so a crashed driver's orders are picked up within one lease; every
  transition is fenced by the lease token, so a driver that lost its lease changes nothing.
* Retryable vs final answers: wallet/exchange 5xx, timeouts, 429 and an open circuit retry with
  jittered backoff; 401/403 from the exchange pause its circuit (the exchange's credentials are wrong,
  not the order) without charging the order an attempt; a 409 from the exchange (its id already used
  for another order) is never compensated automatically.
* After ``max_attempts`` failed drives, or ``max_age`` after its creation (well inside the wallet's
  key lifetime), an order still in flight moves to ``dead`` (``dead_from`` keeps the step) for people
  to resolve; dead letters are counted and logged.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pybreaker
from prometheus_client import Counter
from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from walletstubs.common import metrics
from walletstubs.common.db import is_sqlite
from walletstubs.common.faults import crash_point
from walletstubs.common.leases import claim_due
from walletstubs.common.money import to_decimal_string
from walletstubs.common.telemetry import audit, background_trace, traced_client
from walletstubs.common.tls import client_verify
from walletstubs.exchange.schema import ACTIVE_STATES, orders, settlement_accounts

log = logging.getLogger("walletstubs.exchange.saga")
CLAIM_BATCH = 10
RETRY_BASE_SECONDS = 0.5
RETRY_CAP_SECONDS = 60.0
FINAL_REFUSALS = frozenset({400, 404, 422})
PAUSING = frozenset({401, 403})

TRANSITIONS = Counter(
    "exchange_saga_transitions_total", "Order saga steps completed", ["exchange", "from_state", "to_state"]
)
RETRIES = Counter("exchange_saga_retries_total", "Order saga steps to retry", ["exchange", "state", "reason"])
DEAD_LETTERS = Counter(
    "exchange_saga_dead_letters_total", "Orders moved to the dead letter state", ["exchange", "from_state"]
)


class Transient(Exception):
    """The exchange or the wallet could not answer now; the step is retried later."""


class Paused(Transient):
    """The exchange's circuit is open: nobody calls it now, and no order is charged an attempt."""


class _Retry(Exception):
    """A failure worth retrying at once (timeout, connection error, 5xx)."""


class _OpenedAt(pybreaker.CircuitBreakerListener):
    """Remembers when the circuit last opened (pybreaker has no public getter for it)."""

    at = 0.0

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        if new_state is not None and new_state.name == pybreaker.STATE_OPEN:
            self.at = time.monotonic()
        if new_state is not None:
            metrics.circuit(cb.name or "exchange", new_state.name)


class ExchangeClient:
    """HTTP client of the exchange API: timeout per call, 3 attempts with jittered exponential
    backoff, and a circuit breaker that stops calling for a while after repeated failures."""

    def __init__(self, base_url: str, api_key: str, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.http = traced_client(base_url=base_url, timeout=timeout_s, headers={"X-Api-Key": api_key})
        self._opened = _OpenedAt()
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=5, reset_timeout=5, name="exchange", listeners=[self._opened]
        )
        metrics.circuit("exchange", str(self.breaker.current_state))

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """The exchange's answer (2xx/4xx); raises :class:`Transient` when it cannot be had now, or
        :class:`Paused` when the circuit was already open (the call was not even tried)."""
        if self.breaker.current_state == pybreaker.STATE_OPEN and not self._reset_due():
            raise Paused("exchange circuit is open")
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(3),
                wait=wait_exponential_jitter(initial=0.05, max=0.5),
                retry=retry_if_exception_type(_Retry),
                reraise=True,
            ):
                with attempt, self.breaker.calling():
                    try:
                        response = await self.http.request(method, path, json=body)
                    except httpx.TransportError as exc:
                        raise _Retry(f"exchange unreachable: {type(exc).__name__}") from exc
                    if response.status_code >= 500:
                        raise _Retry(f"exchange answered {response.status_code}")
        except pybreaker.CircuitBreakerError as exc:
            raise Transient("exchange failing; circuit opened") from exc
        except _Retry as exc:
            raise Transient(str(exc)) from exc
        return response

    def _reset_due(self) -> bool:
        return time.monotonic() - self._opened.at >= self.breaker.reset_timeout

    def pause(self) -> None:
        """Stop calling the exchange until the circuit half-opens (its credentials were refused)."""
        self.breaker.open()

    @property
    def worst_case_seconds(self) -> float:
        """The longest one call can take: 3 attempts with their timeouts and backoff."""
        return 3 * self.timeout_s + 1.0

    async def close(self) -> None:
        await self.http.aclose()


class WalletClient:
    """HTTP client of the wallet service; transport errors and 5xx become :class:`Transient`."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self.http = traced_client(base_url=base_url, timeout=timeout_s, verify=client_verify())

    async def post(self, path: str, body: dict[str, Any], key: str) -> httpx.Response:
        try:
            response = await self.http.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.TransportError as exc:
            raise Transient(f"wallet unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise Transient(f"wallet answered {response.status_code}")
        return response

    async def close(self) -> None:
        await self.http.aclose()


def detail_of(response: httpx.Response) -> str:
    """The ``detail`` of a problem answer (or the start of the body)."""
    try:
        return str(response.json().get("detail", response.text))[:500]
    except ValueError:
        return response.text[:200]


@dataclass(frozen=True)
class Lease:
    """A claim on one order row: only the holder of ``token`` may move it."""

    order_id: str
    token: str


class _Fenced(Exception):
    """The lease was lost (expired and taken by another driver); stop driving this order."""


class _Released(Exception):
    """The step gave the order back (retry later or dead letter); stop driving it for now."""


class Saga:
    """Drives the orders of one exchange adapter."""

    def __init__(
        self,
        *,
        name: str,
        engine: AsyncEngine,
        exchange: ExchangeClient,
        wallet: WalletClient,
        max_attempts: int = 12,
        max_age: timedelta = timedelta(hours=12),
        lease: timedelta | None = None,
    ) -> None:
        self.name = name
        self.engine = engine
        self.exchange = exchange
        self.wallet = wallet
        self.max_attempts = max_attempts
        self.max_age = max_age
        worst_step = max(wallet.timeout_s, exchange.worst_case_seconds)
        self.lease = lease or timedelta(seconds=2 * worst_step + 2)
        self._settlement: dict[str, str] = {}

    # -- claims -------------------------------------------------------------------------------

    def new_lease(self, order_id: str) -> tuple[Lease, datetime]:
        """A lease for an order the caller is about to insert, and when it runs out."""
        return Lease(order_id, str(uuid.uuid4())), datetime.now(UTC) + self.lease

    async def claim_due(self, limit: int = CLAIM_BATCH) -> list[Lease]:
        """Claim up to ``limit`` orders whose next attempt is due and whose lease (if any) ran out."""
        token, ids = await claim_due(
            self.engine, orders, state_column="state", states=ACTIVE_STATES, lease=self.lease, limit=limit
        )
        return [Lease(order_id, token) for order_id in ids]

    async def release(
        self, lease: Lease, error: str, *, count: bool = True, delay: float | None = None
    ) -> None:
        """Give the order back for a later attempt (backoff), or to ``dead`` when it has had enough."""
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(
                    select(orders).where(orders.c.id == lease.order_id, orders.c.lease_token == lease.token)
                )
            ).first()
            if row is None or row.state not in ACTIVE_STATES:
                return
            attempts = row.attempts + (1 if count else 0)
            now = datetime.now(UTC)
            too_old = now - _aware(row.created_at) > self.max_age
            if attempts >= self.max_attempts or too_old:
                await conn.execute(
                    update(orders)
                    .where(orders.c.id == lease.order_id, orders.c.lease_token == lease.token)
                    .values(
                        state="dead",
                        dead_from=row.state,
                        attempts=attempts,
                        last_error=error[:500],
                        lease_token=None,
                        lease_until=None,
                        updated_at=now,
                    )
                )
                DEAD_LETTERS.labels(self.name, row.state).inc()
                log.error(
                    "order %s dead-lettered in state %s after %d attempts: %s",
                    lease.order_id,
                    row.state,
                    attempts,
                    error,
                )
                return
            backoff = delay if delay is not None else _backoff(attempts)
            await conn.execute(
                update(orders)
                .where(orders.c.id == lease.order_id, orders.c.lease_token == lease.token)
                .values(
                    attempts=attempts,
                    next_attempt_at=now + timedelta(seconds=backoff),
                    last_error=error[:500],
                    lease_token=None,
                    lease_until=None,
                    updated_at=now,
                )
            )

    async def _update(self, lease: Lease, expected: str, **values: Any) -> None:
        """Commit ``values`` on the order if it is still in state ``expected`` and we hold the lease."""
        async with self.engine.begin() as conn:
            moved = await conn.execute(
                update(orders)
                .where(
                    orders.c.id == lease.order_id,
                    orders.c.lease_token == lease.token,
                    orders.c.state == expected,
                )
                .values(updated_at=datetime.now(UTC), **values)
            )
        if moved.rowcount != 1:
            raise _Fenced(lease.order_id)

    async def _advance(self, lease: Lease, from_state: str, to_state: str, **values: Any) -> None:
        """Commit ``from_state`` -> ``to_state`` (with ``values``); a final state ends the lease."""
        if to_state not in ACTIVE_STATES:
            values |= {"lease_token": None, "lease_until": None}
        await self._update(lease, from_state, state=to_state, **values)
        TRANSITIONS.labels(self.name, from_state, to_state).inc()
        audit(
            f"order.{to_state}",
            "order %s: %s -> %s",
            lease.order_id,
            from_state,
            to_state,
            order=lease.order_id,
            exchange=self.name,
            from_state=from_state,
        )

    # -- driving ------------------------------------------------------------------------------

    async def _keep(self, lease: Lease) -> None:
        """Heartbeat: extend the lease every third of its length while this driver is alive, so a
        slow step never loses it and a dead driver's lease runs out quickly."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(orders)
                    .where(orders.c.id == lease.order_id, orders.c.lease_token == lease.token)
                    .values(lease_until=datetime.now(UTC) + self.lease)
                )

    async def drive(self, lease: Lease) -> None:
        """Run the order's steps until it is final, must wait (released with backoff) or was fenced."""
        heartbeat = asyncio.create_task(self._keep(lease))
        try:
            await self._drive(lease)
        finally:
            heartbeat.cancel()
            with suppress(asyncio.CancelledError):
                await heartbeat

    async def _drive(self, lease: Lease) -> None:
        try:
            while True:
                async with self.engine.connect() as conn:
                    row = (
                        await conn.execute(
                            select(orders).where(
                                orders.c.id == lease.order_id, orders.c.lease_token == lease.token
                            )
                        )
                    ).first()
                if row is None or row.state not in ACTIVE_STATES:
                    return
                step = {"debiting": self._debit, "placing": self._place, "compensating": self._refund}
                await step[row.state](lease, row)
        except _Released:
            return
        except _Fenced:
            log.warning("order %s: lease lost to another driver; leaving it to them", lease.order_id)
        except Paused as exc:
            RETRIES.labels(self.name, "any", "paused").inc()
            await self.release(lease, str(exc), count=False)
        except Transient as exc:
            RETRIES.labels(self.name, "any", "transient").inc()
            await self.release(lease, str(exc))
        except Exception as exc:
            log.exception("order %s: unexpected failure; retrying later", lease.order_id)
            RETRIES.labels(self.name, "any", "error").inc()
            await self.release(lease, f"{type(exc).__name__}: {exc}")

    async def settlement_account(self, currency: str) -> str:
        """The wallet account that receives what customers pay this exchange: created once, then
        remembered in the adapter's database (refunds come from the account the debit went to)."""
        if currency in self._settlement:
            return self._settlement[currency]
        async with self.engine.connect() as conn:
            known = (
                await conn.execute(
                    select(settlement_accounts.c.account).where(settlement_accounts.c.currency == currency)
                )
            ).scalar()
        if known is None:
            response = await self.wallet.post(
                "/v1/accounts",
                {"owner": f"exchange-settlement:{self.name}", "currency": currency},
                key=f"exchange-settlement:{self.name}:{currency}",
            )
            if response.status_code != 201:
                raise Transient(f"wallet refused the settlement account: {detail_of(response)}")
            created = str(response.json()["id"])
            dialect_insert = sqlite_insert if is_sqlite(self.engine) else pg_insert
            async with self.engine.begin() as conn:
                await conn.execute(
                    dialect_insert(settlement_accounts)
                    .values(currency=currency, account=created, created_at=datetime.now(UTC))
                    .on_conflict_do_nothing()
                )
                known = (
                    await conn.execute(
                        select(settlement_accounts.c.account).where(
                            settlement_accounts.c.currency == currency
                        )
                    )
                ).scalar_one()
        self._settlement[currency] = str(known)
        return self._settlement[currency]

    def _money(self, row: Any) -> dict[str, str]:
        return {"amount": to_decimal_string(row.amount_minor, row.currency), "currency": row.currency}

    async def _debit(self, lease: Lease, row: Any) -> None:
        settlement = row.settlement_account or await self.settlement_account(row.currency)
        if row.settlement_account is None:
            await self._update(lease, "debiting", settlement_account=settlement)
        crash_point("before-debit")
        debit = await self.wallet.post(
            "/v1/transfers",
            {
                "from_account": row.account,
                "to_account": settlement,
                **self._money(row),
                "description": f"{self.name} order {row.id}"[:200],
            },
            key=f"exchange-order:{self.name}:{row.id}:debit",
        )
        if debit.status_code == 201:
            await self._advance(lease, "debiting", "placing")
            crash_point("after-debit")
        elif debit.status_code == 422:
            await self._advance(lease, "debiting", "rejected", failure=detail_of(debit))
        elif debit.status_code == 409:
            raise Transient(f"wallet busy: {detail_of(debit)}")
        else:
            await self.release(lease, f"wallet answered {debit.status_code}: {detail_of(debit)}")
            raise _Released(row.id)

    async def _place(self, lease: Lease, row: Any) -> None:
        crash_point("before-place")
        placed = await self.exchange.request(
            "POST",
            "/v1/orders",
            {
                "client_order_id": row.id,
                "symbol": row.symbol,
                "side": row.side,
                "currency": row.currency,
                "notional": to_decimal_string(row.amount_minor - row.fee_minor, row.currency),
            },
        )
        status = placed.status_code
        if status in (200, 201):
            data = placed.json()
            await self._advance(
                lease,
                "placing",
                "placed",
                exchange_order_id=data["exchange_order_id"],
                price=data["price"],
                quantity=data["quantity"],
            )
            crash_point("after-place")
        elif status in FINAL_REFUSALS:
            await self._advance(lease, "placing", "compensating", failure=detail_of(placed))
            crash_point("after-refusal")
        elif status in PAUSING:
            self.exchange.pause()
            RETRIES.labels(self.name, "placing", "paused").inc()
            await self.release(lease, f"exchange refused our credentials ({status})", count=False)
            raise _Released(row.id)
        elif status == 429:
            RETRIES.labels(self.name, "placing", "throttled").inc()
            await self.release(lease, "exchange throttled us (429)", delay=_retry_after(placed))
            raise _Released(row.id)
        elif status == 409:
            await self._dead_letter(lease, row, f"exchange reports a conflicting order: {detail_of(placed)}")
            raise _Released(row.id)
        else:
            await self.release(lease, f"exchange answered {status}: {detail_of(placed)}")
            raise _Released(row.id)

    async def _refund(self, lease: Lease, row: Any) -> None:
        crash_point("before-refund")
        refund = await self.wallet.post(
            "/v1/transfers",
            {
                "from_account": row.settlement_account,
                "to_account": row.account,
                **self._money(row),
                "description": f"{self.name} refund {row.id}"[:200],
            },
            key=f"exchange-order:{self.name}:{row.id}:refund",
        )
        if refund.status_code != 201:
            raise Transient(f"refund not booked yet ({refund.status_code}): {detail_of(refund)}")
        await self._advance(lease, "compensating", "refunded")
        crash_point("after-refund")

    async def _dead_letter(self, lease: Lease, row: Any, error: str) -> None:
        """Move an order straight to ``dead``: retrying cannot help and compensating could be wrong."""
        await self._update(
            lease,
            row.state,
            state="dead",
            dead_from=row.state,
            last_error=error[:500],
            lease_token=None,
            lease_until=None,
        )
        DEAD_LETTERS.labels(self.name, row.state).inc()
        log.error("order %s dead-lettered in state %s: %s", row.id, row.state, error)
        audit(
            "order.dead",
            "order %s dead-lettered",
            row.id,
            outcome="failure",
            order=row.id,
            exchange=self.name,
        )

    async def relay(self, interval: float) -> None:
        """Forever: claim due orders and drive them, a few at a time; one order's failure never stops
        the others."""
        while True:
            await asyncio.sleep(interval)
            try:
                claimed = await self.claim_due()
            except Exception:
                log.exception("claiming due orders failed; retrying next pass")
                continue
            if claimed:
                with background_trace("saga relay"):
                    await asyncio.gather(*(self.drive(lease) for lease in claimed))

    async def in_flight(self) -> dict[str, int]:
        """Orders per state that are not final (and dead letters)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(orders.c.state, func.count())
                .where(or_(orders.c.state.in_(ACTIVE_STATES), orders.c.state == "dead"))
                .group_by(orders.c.state)
            )
            return {state: int(count) for state, count in rows}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _backoff(attempts: int) -> float:
    """Jittered exponential backoff: 0.5 s, 1 s, 2 s ... up to a minute."""
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** min(attempts, 10))
    return random.uniform(ceiling / 2, ceiling)


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(RETRY_CAP_SECONDS, max(0.0, float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0
