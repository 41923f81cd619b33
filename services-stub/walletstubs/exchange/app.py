"""Exchange adapter: places investment orders on one exchange, paying for them through the wallet ledger.

An order is recorded -- with the intent of its first step and a lease held by the request -- in one
transaction, then driven by the saga (:mod:`walletstubs.exchange.saga`): debit the customer's wallet
account into the exchange's settlement account, place the order at the exchange, or refund the debit
if the exchange refuses it. Whatever the request could not finish (timeout, open circuit, ``kill -9``)
the relay finishes later, and the ledger and the exchange end up agreeing: one debit per placed order,
a refund for every refused one, nothing placed after a refund.

Client order ids and ``Idempotency-Key`` values belong to the calling consumer (``X-Consumer``); the
exchange sees a derived id of at most 35 characters. Quotes and the symbol list are cached with a TTL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from walletstubs.common.cache import Cache, make_cache
from walletstubs.common.credentials import load_credentials
from walletstubs.common.db import make_engine, ping, prepare_schema
from walletstubs.common.idempotency import (
    REPLAYED_HEADER,
    Consumer,
    IdempotencyKey,
    IdempotencyStore,
    consumer_of,
    derived_id,
    in_progress,
    is_lock_timeout,
    replayed,
    request_hash,
)
from walletstubs.common.metrics import engine_pool, outbox
from walletstubs.common.money import Amount, Currency, precise_for_currency, to_decimal_string, to_minor, utc
from walletstubs.common.problems import PROBLEM_JSON, Problem
from walletstubs.common.service import PROBLEM_RESPONSES, create_app
from walletstubs.common.settings import ServiceSettings, env, env_int
from walletstubs.common.telemetry import audit
from walletstubs.exchange.saga import ExchangeClient, Saga, Transient, WalletClient
from walletstubs.exchange.schema import ACTIVE_STATES, MIGRATIONS, idempotency_keys, metadata, orders

log = logging.getLogger("walletstubs.exchange")
QUOTE_TTL_SECONDS = 2.0
STATUS_OF_STATE: dict[str, Literal["pending", "placed", "rejected"]] = {
    "debiting": "pending",
    "placing": "pending",
    "compensating": "pending",
    "dead": "pending",
    "placed": "placed",
    "rejected": "rejected",
    "refunded": "rejected",
}
SYMBOLS_TTL_SECONDS = 300.0
PURGE_INTERVAL_SECONDS = 300.0
CLIENT_ORDER_ID = r"^[A-Za-z0-9._:-]{1,255}$"
ClientOrderId = Annotated[str, Field(min_length=1, max_length=255, pattern=CLIENT_ORDER_ID)]
ORDER_ID_PREFIX = "wo-"
Symbol = Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Z0-9.-]+$")]


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    client_order_id: ClientOrderId | None = Field(
        None,
        description="Your id for this order; retries with it never place a second order. "
        "Defaults to the Idempotency-Key (which must then fit this pattern).",
    )
    account: Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    symbol: Symbol
    side: Literal["buy"]
    currency: Currency
    amount: Amount = Field(description="Total to spend from the wallet account, fee included")

    _precision = field_validator("amount")(precise_for_currency)


class Order(BaseModel):
    client_order_id: str
    exchange_client_order_id: str = Field(description="The id the exchange knows this order by")
    exchange: str
    account: str
    symbol: str
    side: str
    amount: str
    fee: str
    currency: str
    status: Literal["pending", "placed", "rejected"]
    step: str = Field(
        description="Saga state: debiting, placing, compensating (in flight); placed, rejected, refunded; "
        "dead (stuck, needs people)"
    )
    exchange_order_id: str | None
    price: str | None
    quantity: str | None
    failure: str | None
    created_at: datetime


class Quote(BaseModel):
    exchange: str
    symbol: str
    price: str
    as_of: datetime


class ExchangeInfo(BaseModel):
    name: str
    kind: str
    fee_bps: int
    min_order: str
    max_order: str
    circuit: str
    pending_orders: int
    dead_letters: int


class Adapter:
    """One exchange's adapter: its orders, the saga that drives them, its clients and caches."""

    def __init__(
        self,
        *,
        name: str,
        kind: str,
        fee_bps: int,
        engine: AsyncEngine,
        cache: Cache,
        saga: Saga,
        ttl: timedelta,
        min_order: Decimal,
        max_order: Decimal,
    ) -> None:
        self.name = name
        self.kind = kind
        self.fee_bps = fee_bps
        self.engine = engine
        self.cache = cache
        self.saga = saga
        self.exchange = saga.exchange
        self.keys = IdempotencyStore(engine, idempotency_keys, ttl)
        self.min_order = min_order
        self.max_order = max_order

    def view(self, row: Any) -> dict[str, Any]:
        return Order(
            client_order_id=row.client_order_id,
            exchange_client_order_id=row.id,
            exchange=self.name,
            account=row.account,
            symbol=row.symbol,
            side=row.side,
            amount=to_decimal_string(row.amount_minor, row.currency),
            fee=to_decimal_string(row.fee_minor, row.currency),
            currency=row.currency,
            status=STATUS_OF_STATE[row.state],
            step=row.state,
            exchange_order_id=row.exchange_order_id,
            price=row.price,
            quantity=row.quantity,
            failure=row.failure or (row.last_error if row.state == "dead" else None),
            created_at=utc(row.created_at),
        ).model_dump(mode="json")

    async def load(self, consumer: str, client_order_id: str) -> Any:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    select(orders).where(
                        orders.c.consumer == consumer, orders.c.client_order_id == client_order_id
                    )
                )
            ).first()

    async def symbols(self) -> list[str] | None:
        """Listed symbols (cached); None when the exchange cannot say right now."""
        cached = await self.cache.get("symbols")
        if cached is not None:
            return list(json.loads(cached))
        try:
            response = await self.exchange.request("GET", "/v1/symbols")
        except Transient:
            return None
        if response.status_code != 200:
            return None
        await self.cache.set("symbols", response.text, SYMBOLS_TTL_SECONDS)
        return list(response.json())

    async def quote(self, symbol: str) -> dict[str, Any]:
        cached = await self.cache.get(f"quote:{symbol}")
        if cached is not None:
            return dict(json.loads(cached))
        try:
            response = await self.exchange.request("GET", f"/v1/quotes/{symbol}")
        except Transient as exc:
            raise Problem(503, "exchange-unavailable", "Exchange unavailable", f"{self.name}: {exc}") from exc
        if response.status_code == 404:
            raise Problem(404, "unknown-symbol", "Unknown symbol", f"{symbol!r} is not listed on {self.name}")
        if response.status_code != 200:
            raise Problem(
                502, "exchange-error", "Exchange error", f"{self.name} answered {response.status_code}"
            )
        data = response.json()
        quote = Quote(exchange=self.name, symbol=symbol, price=data["price"], as_of=data["as_of"]).model_dump(
            mode="json"
        )
        await self.cache.set(f"quote:{symbol}", json.dumps(quote), QUOTE_TTL_SECONDS)
        return quote

    async def _check(self, body: OrderCreate) -> tuple[int, int]:
        """The order's amount and fee in minor units, or a 422 naming what is wrong."""
        amount = Decimal(body.amount)
        if not self.min_order <= amount <= self.max_order:
            raise Problem(
                422,
                "order-limit",
                "Order outside limits",
                f"amount: {self.name} accepts orders from {self.min_order} to {self.max_order} "
                f"{body.currency}",
            )
        listed = await self.symbols()
        if listed is not None and body.symbol not in listed:
            raise Problem(
                422,
                "unknown-symbol",
                "Unknown symbol",
                f"symbol: {body.symbol!r} is not listed on {self.name}; listed: {', '.join(listed)}",
            )
        amount_minor = to_minor(body.amount, body.currency)
        fee_minor = (amount_minor * self.fee_bps + 9999) // 10000
        if fee_minor >= amount_minor:
            raise Problem(422, "order-limit", "Order too small", "amount: does not cover the exchange fee")
        return amount_minor, fee_minor

    async def submit(self, body: OrderCreate, key: str, consumer: str) -> tuple[Any, bool]:
        """Record the order under the caller's key (or find the earlier one) and drive it once."""
        client_order_id = body.client_order_id or key
        if not re.fullmatch(CLIENT_ORDER_ID, client_order_id):
            raise Problem(
                400,
                "invalid-client-order-id",
                "Invalid client order id",
                "client_order_id defaults to the Idempotency-Key, which then must be 1-255 characters of "
                "[A-Za-z0-9._:-]; send a client_order_id or such a key",
            )
        amount_minor, fee_minor = await self._check(body)
        scope = f"{consumer}:POST /v1/exchanges/{self.name}/orders"
        fingerprint = request_hash(
            scope, {**body.model_dump(mode="json"), "client_order_id": client_order_id}
        )
        order_id = derived_id(ORDER_ID_PREFIX, consumer, client_order_id)
        lease, lease_until = self.saga.new_lease(order_id)
        now = datetime.now(UTC)
        stored = existing = None
        try:
            async with self.engine.begin() as conn:
                stored = await self.keys.claim(conn, scope, key, fingerprint)
                existing = (
                    await conn.execute(
                        select(orders).where(
                            orders.c.consumer == consumer, orders.c.client_order_id == client_order_id
                        )
                    )
                ).first()
                if stored is not None and stored.request_hash != fingerprint:
                    raise _reused(key, client_order_id, True)
                if existing is not None and existing.request_hash != fingerprint:
                    raise _reused(key, client_order_id, False)
                if existing is None:
                    await conn.execute(
                        insert(orders).values(
                            id=order_id,
                            consumer=consumer,
                            client_order_id=client_order_id,
                            account=body.account,
                            symbol=body.symbol,
                            side=body.side,
                            amount_minor=amount_minor,
                            fee_minor=fee_minor,
                            currency=body.currency,
                            state="debiting",
                            request_hash=fingerprint,
                            attempts=0,
                            next_attempt_at=now,
                            lease_token=lease.token,
                            lease_until=lease_until,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                if stored is None:
                    await self.keys.store(conn, scope, key, 201, {"client_order_id": client_order_id})
        except IntegrityError:
            existing = await self.load(consumer, client_order_id)
            if existing is None:
                raise
            if existing.request_hash != fingerprint:
                raise _reused(key, client_order_id, False) from None
        except DBAPIError as exc:
            if is_lock_timeout(exc):
                raise in_progress(key) from exc
            raise
        if existing is not None or stored is not None:
            replayed(key)
            return await self.load(consumer, client_order_id), True
        audit("order.debiting", "order %s recorded", order_id, order=order_id, exchange=self.name)
        await self.saga.drive(lease)
        return await self.load(consumer, client_order_id), False


def _reused(key: str, client_order_id: str, by_key: bool) -> Problem:
    what = f"Idempotency-Key {key!r}" if by_key else f"client_order_id {client_order_id!r}"
    return Problem(
        422,
        "idempotency-key-reused",
        "Reused for a different order",
        f"{what} was already used for a different order; use a new one",
    )


def _adapter(request: Request, exchange: str) -> Adapter:
    adapter: Adapter = request.app.state.adapter
    if exchange != adapter.name:
        raise Problem(
            404,
            "unknown-exchange",
            "Unknown exchange",
            f"exchange {exchange!r} is not served here; this adapter serves {adapter.name!r}",
        )
    return adapter


def _order_response(adapter: Adapter, request: Request, row: Any, replayed: bool) -> Response:
    view = adapter.view(row)
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    if view["status"] == "rejected":
        body = {
            "type": "https://problems.walletco.example/order-rejected",
            "title": "Order rejected",
            "status": 422,
            "detail": f"order {row.client_order_id} was rejected: {row.failure}",
            "instance": request.url.path,
            "order": view,
        }
        return JSONResponse(body, status_code=422, media_type=PROBLEM_JSON, headers=headers)
    return JSONResponse(view, status_code=201 if view["status"] == "placed" else 202, headers=headers)


def _router() -> APIRouter:
    router = APIRouter(
        prefix="/v1/exchanges/{exchange}",
        responses=PROBLEM_RESPONSES | {503: {"description": "Exchange unavailable"}},
    )

    @router.get(
        "", response_model=ExchangeInfo, tags=["exchange"], summary="This exchange's terms and health"
    )
    async def info(request: Request, exchange: str) -> ExchangeInfo:
        adapter = _adapter(request, exchange)
        in_flight = await adapter.saga.in_flight()
        return ExchangeInfo(
            name=adapter.name,
            kind=adapter.kind,
            fee_bps=adapter.fee_bps,
            min_order=str(adapter.min_order),
            max_order=str(adapter.max_order),
            circuit=str(adapter.exchange.breaker.current_state),
            pending_orders=sum(count for state, count in in_flight.items() if state != "dead"),
            dead_letters=in_flight.get("dead", 0),
        )

    @router.post(
        "/orders",
        status_code=201,
        response_model=Order,
        tags=["orders"],
        summary="Buy on this exchange, paid from a wallet account",
        responses={202: {"model": Order, "description": "Accepted; the exchange has not confirmed yet"}},
    )
    async def create_order(
        request: Request,
        exchange: str,
        body: OrderCreate,
        idempotency_key: IdempotencyKey,
        consumer: Consumer = None,
    ) -> Response:
        adapter = _adapter(request, exchange)
        row, replayed = await adapter.submit(body, idempotency_key, consumer_of(consumer))
        return _order_response(adapter, request, row, replayed)

    @router.get("/orders/{client_order_id}", response_model=Order, tags=["orders"], summary="One order")
    async def get_order(
        request: Request, exchange: str, client_order_id: str, consumer: Consumer = None
    ) -> dict[str, Any]:
        adapter = _adapter(request, exchange)
        row = await adapter.load(consumer_of(consumer), client_order_id)
        if row is None:
            raise Problem(
                404, "unknown-order", "Unknown order", f"no order {client_order_id!r} on {adapter.name}"
            )
        return adapter.view(row)

    @router.get(
        "/quotes/{symbol}", response_model=Quote, tags=["market"], summary="Price (cached a few seconds)"
    )
    async def get_quote(
        request: Request, exchange: str, symbol: Annotated[str, Path(pattern=r"^[A-Z0-9.-]{1,16}$")]
    ) -> dict[str, Any]:
        return await _adapter(request, exchange).quote(symbol)

    return router


def build_app(settings: ServiceSettings) -> FastAPI:
    """The adapter for ``WALLETSTUB_EXCHANGE_NAME``, talking to ``WALLETSTUB_EXCHANGE_BASE_URL``."""
    name = env("EXCHANGE_NAME")
    credentials = load_credentials(env("EXCHANGE_CREDENTIALS_FILE"))
    timeout_s = env_int("EXCHANGE_TIMEOUT_MS", 2000) / 1000

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
        await prepare_schema(engine, metadata, MIGRATIONS)
        ttl = timedelta(hours=settings.idempotency_ttl_hours)
        saga = Saga(
            name=name,
            engine=engine,
            exchange=ExchangeClient(env("EXCHANGE_BASE_URL"), credentials["api_key"], timeout_s),
            wallet=WalletClient(env("WALLET_URL"), env_int("WALLET_TIMEOUT_MS", 10000) / 1000),
            max_attempts=env_int("SAGA_MAX_ATTEMPTS", 12),
            max_age=ttl / 2,
            lease=timedelta(milliseconds=lease_ms) if (lease_ms := env_int("SAGA_LEASE_MS", 0)) else None,
        )
        adapter = Adapter(
            name=name,
            kind=env("EXCHANGE_KIND"),
            fee_bps=env_int("EXCHANGE_FEE_BPS", 10),
            engine=engine,
            cache=make_cache(settings.cache_url, settings.service),
            saga=saga,
            ttl=ttl,
            min_order=Decimal(env("EXCHANGE_MIN_ORDER", "1")),
            max_order=Decimal(env("EXCHANGE_MAX_ORDER", "10000")),
        )
        app.state.adapter = adapter
        app.state.samplers = [
            engine_pool("orders", engine),
            outbox("orders", engine, orders, "state", ACTIVE_STATES),
        ]
        tasks = [
            asyncio.create_task(saga.relay(env_int("RELAY_INTERVAL_MS", 500) / 1000)),
            asyncio.create_task(adapter.keys.purge_forever(PURGE_INTERVAL_SECONDS)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            with suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks)
            await saga.exchange.close()
            await saga.wallet.close()
            await adapter.cache.close()
            await engine.dispose()

    async def ready(app: FastAPI) -> None:
        await ping(app.state.adapter.engine)

    app = create_app(
        title=f"Exchange adapter: {name}",
        description="Orders on one exchange, paid through the wallet ledger; idempotent on client_order_id.",
        service=settings.service,
        lifespan=lifespan,
        ready=ready,
    )
    app.include_router(_router())
    return app
