"""The simulated exchange API: symbols, quotes, orders, and the admin knobs for fault injection."""

from __future__ import annotations

import asyncio
import hmac
import math
import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from types import SimpleNamespace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, func, insert, select

from walletstubs.common.credentials import load_credentials
from walletstubs.common.db import make_engine, ping, prepare_schema
from walletstubs.common.money import Amount, Currency, to_decimal_string, to_minor, utc
from walletstubs.common.problems import Problem
from walletstubs.common.service import PROBLEM_RESPONSES, create_app
from walletstubs.common.settings import ServiceSettings, env, env_float, env_int

SYMBOLS: dict[str, dict[str, Decimal]] = {
    "crypto": {"BTC": Decimal("60000"), "ETH": Decimal("3000"), "SOL": Decimal("150")},
    "stock": {"AAPL": Decimal("190"), "MSFT": Decimal("420"), "VWCE": Decimal("115")},
}

metadata = MetaData()
orders = Table(
    "sim_orders",
    metadata,
    Column("client_order_id", String(64), primary_key=True),
    Column("exchange_order_id", String(36), nullable=False, unique=True),
    Column("symbol", String(16), nullable=False),
    Column("side", String(4), nullable=False),
    Column("notional_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("price", String(32), nullable=False),
    Column("quantity", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

ClientOrderId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


class Knobs(BaseModel):
    """Fault injection, per process; settable at start (env) and at runtime (``PUT /admin/knobs``)."""

    model_config = ConfigDict(extra="forbid")
    latency_ms: int = Field(0, ge=0, le=10000, description="Added to every quote and order")
    error_rate: float = Field(
        0.0, ge=0, le=1, description="Share of orders/quotes answered 503, nothing recorded"
    )
    timeout_rate: float = Field(0.0, ge=0, le=1, description="Share of orders recorded, then answered late")
    timeout_ms: int = Field(5000, ge=0, le=30000, description="How late a 'timed out' answer comes")
    reject_rate: float = Field(
        0.0, ge=0, le=1, description="Share of orders refused with 422 (a final answer), nothing recorded"
    )
    throttle_rate: float = Field(
        0.0, ge=0, le=1, description="Share of orders answered 429 with Retry-After, nothing recorded"
    )
    refuse_credentials: bool = Field(False, description="Answer every call 401, as after a key rotation")


class SimOrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_order_id: ClientOrderId
    symbol: str = Field(min_length=1, max_length=16)
    side: Literal["buy"]
    currency: Currency
    notional: Amount


class SimOrder(BaseModel):
    client_order_id: str
    exchange_order_id: str
    symbol: str
    side: str
    notional: str
    currency: str
    price: str
    quantity: str
    created_at: datetime


class Quote(BaseModel):
    symbol: str
    price: str
    as_of: datetime


class OrderList(BaseModel):
    count: int
    orders: list[SimOrder]


def price_of(base: Decimal, at: float) -> Decimal:
    """A slow, deterministic drift around ``base`` (±1 %, period about six minutes)."""
    return (base * (1 + Decimal(str(round(math.sin(at / 60) / 100, 6))))).quantize(Decimal("0.01"))


def _view(row: Any) -> dict[str, Any]:
    return SimOrder(
        client_order_id=row.client_order_id,
        exchange_order_id=row.exchange_order_id,
        symbol=row.symbol,
        side=row.side,
        notional=to_decimal_string(row.notional_minor, row.currency),
        currency=row.currency,
        price=row.price,
        quantity=row.quantity,
        created_at=utc(row.created_at),
    ).model_dump(mode="json")


def _router(kind: str) -> APIRouter:
    router = APIRouter(
        responses=PROBLEM_RESPONSES
        | {401: {"description": "Bad API key"}, 503: {"description": "Injected fault"}}
    )
    prices = SYMBOLS[kind]

    async def _fault(request: Request) -> float:
        knobs: Knobs = request.app.state.knobs
        if knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        if request.app.state.rng.random() < knobs.error_rate:
            raise Problem(
                503, "injected-error", "Exchange unavailable", "simulated exchange error (error_rate knob)"
            )
        return knobs.timeout_ms / 1000 if request.app.state.rng.random() < knobs.timeout_rate else 0.0

    def _auth(request: Request, api_key: str | None) -> None:
        expected = request.app.state.credentials["api_key"]
        refused = request.app.state.knobs.refuse_credentials
        if refused or api_key is None or not hmac.compare_digest(api_key.encode(), expected.encode()):
            raise Problem(401, "unauthorized", "Unauthorized", "missing or wrong X-Api-Key for this exchange")

    def _symbol(symbol: str) -> Decimal:
        if symbol not in prices:
            raise Problem(
                404,
                "unknown-symbol",
                "Unknown symbol",
                f"symbol {symbol!r} is not listed; listed: {', '.join(prices)}",
            )
        return prices[symbol]

    @router.get("/v1/symbols", tags=["market"], summary="Listed symbols")
    async def symbols() -> list[str]:
        return list(prices)

    @router.get("/v1/quotes/{symbol}", response_model=Quote, tags=["market"], summary="Current price")
    async def quote(
        request: Request, symbol: str, x_api_key: Annotated[str | None, Header()] = None
    ) -> Quote:
        _auth(request, x_api_key)
        base = _symbol(symbol)
        delay = await _fault(request)
        await asyncio.sleep(delay)
        return Quote(symbol=symbol, price=str(price_of(base, time.time())), as_of=datetime.now(UTC))

    @router.post(
        "/v1/orders", status_code=201, response_model=SimOrder, tags=["orders"], summary="Place an order"
    )
    async def place(
        request: Request, body: SimOrderCreate, x_api_key: Annotated[str | None, Header()] = None
    ) -> Response:
        _auth(request, x_api_key)
        base = _symbol(body.symbol)
        delay = await _fault(request)
        knobs: Knobs = request.app.state.knobs
        if request.app.state.rng.random() < knobs.throttle_rate:
            raise Problem(
                429,
                "throttled",
                "Too many requests",
                "simulated throttling (throttle_rate knob)",
                headers={"Retry-After": "1"},
            )
        if request.app.state.rng.random() < knobs.reject_rate:
            raise Problem(422, "order-refused", "Order refused", "simulated refusal (reject_rate knob)")
        engine = request.app.state.engine
        notional_minor = to_minor(body.notional, body.currency)
        async with engine.begin() as conn:
            existing = (
                await conn.execute(select(orders).where(orders.c.client_order_id == body.client_order_id))
            ).first()
            if existing is not None:
                same = (existing.symbol, existing.side, existing.notional_minor, existing.currency) == (
                    body.symbol,
                    body.side,
                    notional_minor,
                    body.currency,
                )
                if not same:
                    raise Problem(
                        409,
                        "client-order-id-reused",
                        "Duplicate client order id",
                        f"client_order_id {body.client_order_id!r} was used for a different order",
                    )
                return JSONResponse(_view(existing), status_code=200)
            price = price_of(base, time.time())
            quantity = (Decimal(body.notional) / price).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
            row = {
                "client_order_id": body.client_order_id,
                "exchange_order_id": str(uuid.uuid4()),
                "symbol": body.symbol,
                "side": body.side,
                "notional_minor": notional_minor,
                "currency": body.currency,
                "price": str(price),
                "quantity": str(quantity),
                "created_at": datetime.now(UTC),
            }
            await conn.execute(insert(orders).values(**row))
        await asyncio.sleep(delay)
        return JSONResponse(_view(SimpleNamespace(**row)), status_code=201)

    @router.get("/v1/orders/{client_order_id}", response_model=SimOrder, tags=["orders"], summary="One order")
    async def get_order(request: Request, client_order_id: str) -> dict[str, Any]:
        async with request.app.state.engine.connect() as conn:
            row = (
                await conn.execute(select(orders).where(orders.c.client_order_id == client_order_id))
            ).first()
        if row is None:
            raise Problem(
                404, "unknown-order", "Unknown order", f"no order with client_order_id {client_order_id!r}"
            )
        return _view(row)

    @router.get(
        "/v1/orders", response_model=OrderList, tags=["orders"], summary="All orders (for reconciliation)"
    )
    async def list_orders(request: Request) -> dict[str, Any]:
        async with request.app.state.engine.connect() as conn:
            rows = (await conn.execute(select(orders).order_by(orders.c.created_at))).all()
            count = (await conn.execute(select(func.count()).select_from(orders))).scalar_one()
        return {"count": count, "orders": [_view(row) for row in rows]}

    @router.get("/admin/knobs", response_model=Knobs, tags=["admin"], summary="Current fault knobs")
    async def get_knobs(request: Request) -> Knobs:
        knobs: Knobs = request.app.state.knobs
        return knobs

    @router.put("/admin/knobs", response_model=Knobs, tags=["admin"], summary="Set fault knobs")
    async def set_knobs(request: Request, body: Knobs) -> Knobs:
        request.app.state.knobs = body
        return body

    return router


def build_app(settings: ServiceSettings) -> FastAPI:
    """The simulated exchange for ``WALLETSTUB_EXCHANGE_NAME`` / ``_KIND``."""
    name = env("EXCHANGE_NAME")
    kind = env("EXCHANGE_KIND")
    if kind not in SYMBOLS:
        raise ValueError(f"WALLETSTUB_EXCHANGE_KIND={kind!r}; allowed: {', '.join(SYMBOLS)}")
    credentials = load_credentials(env("EXCHANGE_CREDENTIALS_FILE"))
    knobs = Knobs(
        latency_ms=env_int("SIM_LATENCY_MS", 0),
        error_rate=env_float("SIM_ERROR_RATE", 0.0),
        timeout_rate=env_float("SIM_TIMEOUT_RATE", 0.0),
        timeout_ms=env_int("SIM_TIMEOUT_MS", 5000),
        reject_rate=env_float("SIM_REJECT_RATE", 0.0),
        throttle_rate=env_float("SIM_THROTTLE_RATE", 0.0),
        refuse_credentials=False,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        await prepare_schema(engine, metadata, None)
        app.state.engine = engine
        app.state.knobs = knobs
        app.state.credentials = credentials
        app.state.rng = random.Random(env_int("SIM_SEED", 0) or None)
        try:
            yield
        finally:
            await engine.dispose()

    async def ready(app: FastAPI) -> None:
        await ping(app.state.engine)

    app = create_app(
        title=f"Simulated exchange: {name}",
        description="Stand-in for the exchange's API on loopback, with latency/error/timeout knobs.",
        service=settings.service,
        lifespan=lifespan,
        ready=ready,
    )
    app.include_router(_router(kind))
    return app
