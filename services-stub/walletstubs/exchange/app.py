"""Exchange adapter: places investment orders on one exchange, paying for them through the wallet ledger.

An order is recorded with an outbox row in one transaction, then driven: (1) debit the customer's
wallet account into the exchange's settlement account (wallet ``Idempotency-Key`` derived from the
client order id), (2) place the order at the exchange under the same client order id, (3) mark it
placed — or, if the exchange refuses it, refund the debit and mark it rejected. Each step is
idempotent, so the background relay can re-drive any order left pending by a timeout, an open
circuit or a ``kill -9``, and the ledger and the exchange end up agreeing: one debit per placed order.

Calls to the exchange have timeouts, retries with exponential backoff (tenacity) and a circuit
breaker (pybreaker). Quotes and the symbol list are cached with a TTL.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import httpx
import pybreaker
from fastapi import APIRouter, FastAPI, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from walletstubs.common.cache import Cache, make_cache
from walletstubs.common.credentials import load_credentials
from walletstubs.common.db import make_engine, ping, prepare_schema
from walletstubs.common.idempotency import REPLAYED_HEADER, IdempotencyKey, request_hash
from walletstubs.common.money import Amount, Currency, precise_for_currency, to_decimal_string, to_minor, utc
from walletstubs.common.problems import PROBLEM_JSON, Problem
from walletstubs.common.service import PROBLEM_RESPONSES, create_app
from walletstubs.common.settings import ServiceSettings, env, env_int
from walletstubs.exchange.schema import MIGRATIONS, metadata, orders, outbox

log = logging.getLogger("walletstubs.exchange")
QUOTE_TTL_SECONDS = 2.0
SYMBOLS_TTL_SECONDS = 300.0
ClientOrderId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Symbol = Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Z0-9.-]+$")]


class Transient(Exception):
    """The exchange or the wallet could not answer now; the order stays pending for the relay."""


class _Retry(Exception):
    """A failure worth retrying at once (timeout, connection error, 5xx)."""


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    client_order_id: ClientOrderId | None = Field(
        None,
        description="Your id for this order; retries with it never place a second order. "
        "Defaults to the Idempotency-Key.",
    )
    account: Annotated[str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    symbol: Symbol
    side: Literal["buy"]
    currency: Currency
    amount: Amount = Field(description="Total to spend from the wallet account, fee included")

    _precision = field_validator("amount")(precise_for_currency)


class Order(BaseModel):
    client_order_id: str
    exchange: str
    account: str
    symbol: str
    side: str
    amount: str
    fee: str
    currency: str
    status: Literal["pending", "placed", "rejected"]
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


class ExchangeClient:
    """HTTP client of the exchange API: timeout per call, 3 attempts with jittered exponential
    backoff, and a circuit breaker that stops calling for a while after repeated failures."""

    def __init__(self, base_url: str, api_key: str, timeout_s: float) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, headers={"X-Api-Key": api_key})
        self.breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=5, name="exchange")

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """The exchange's answer (2xx/4xx); raises :class:`Transient` when it cannot be had now."""
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
            raise Transient("exchange circuit is open") from exc
        except _Retry as exc:
            raise Transient(str(exc)) from exc
        return response

    async def close(self) -> None:
        await self.http.aclose()


class WalletClient:
    """HTTP client of the wallet service; transport errors and 5xx become :class:`Transient`."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10)

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


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]


class Adapter:
    """One exchange's adapter: its orders, its outbox relay, its clients and caches."""

    def __init__(
        self,
        *,
        name: str,
        kind: str,
        fee_bps: int,
        timeout_s: float,
        engine: AsyncEngine,
        cache: Cache,
        exchange: ExchangeClient,
        wallet: WalletClient,
        min_order: Decimal,
        max_order: Decimal,
    ) -> None:
        self.name = name
        self.kind = kind
        self.fee_bps = fee_bps
        self.engine = engine
        self.cache = cache
        self.exchange = exchange
        self.wallet = wallet
        self.min_order = min_order
        self.max_order = max_order
        self.lease = timedelta(seconds=4 * timeout_s + 2)
        self._settlement: dict[str, str] = {}

    def view(self, row: Any) -> dict[str, Any]:
        return Order(
            client_order_id=row.client_order_id,
            exchange=self.name,
            account=row.account,
            symbol=row.symbol,
            side=row.side,
            amount=to_decimal_string(row.amount_minor, row.currency),
            fee=to_decimal_string(row.fee_minor, row.currency),
            currency=row.currency,
            status=row.status,
            exchange_order_id=row.exchange_order_id,
            price=row.price,
            quantity=row.quantity,
            failure=row.failure,
            created_at=utc(row.created_at),
        ).model_dump(mode="json")

    async def load(self, client_order_id: str) -> Any:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(select(orders).where(orders.c.client_order_id == client_order_id))
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

    async def submit(self, body: OrderCreate, key: str) -> tuple[Any, bool]:
        """Record the order (or find the earlier one with this client order id) and drive it once."""
        client_order_id = body.client_order_id or key
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
        fingerprint = request_hash(
            "order", {**body.model_dump(mode="json"), "client_order_id": client_order_id}
        )
        amount_minor = to_minor(body.amount, body.currency)
        fee_minor = (amount_minor * self.fee_bps + 9999) // 10000
        if fee_minor >= amount_minor:
            raise Problem(422, "order-limit", "Order too small", "amount: does not cover the exchange fee")
        now = datetime.now(UTC)
        try:
            async with self.engine.begin() as conn:
                existing = (
                    await conn.execute(select(orders).where(orders.c.client_order_id == client_order_id))
                ).first()
                if existing is None:
                    await conn.execute(
                        insert(orders).values(
                            client_order_id=client_order_id,
                            account=body.account,
                            symbol=body.symbol,
                            side=body.side,
                            amount_minor=amount_minor,
                            fee_minor=fee_minor,
                            currency=body.currency,
                            status="pending",
                            request_hash=fingerprint,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    await conn.execute(
                        insert(outbox).values(
                            client_order_id=client_order_id, next_attempt_at=now + self.lease
                        )
                    )
        except IntegrityError:
            existing = await self.load(client_order_id)
        if existing is not None:
            if existing.request_hash != fingerprint:
                raise Problem(
                    422,
                    "idempotency-key-reused",
                    "Client order id reused with a different order",
                    f"client_order_id {client_order_id!r} was already used for a different order",
                )
            return existing, True
        await self.drive(client_order_id)
        return await self.load(client_order_id), False

    async def settlement_account(self, currency: str) -> str:
        """The wallet account that receives what customers pay this exchange (created once)."""
        if currency not in self._settlement:
            response = await self.wallet.post(
                "/v1/accounts",
                {"owner": f"exchange-settlement:{self.name}", "currency": currency},
                key=f"exchange-settlement:{self.name}:{currency}",
            )
            if response.status_code != 201:
                raise Transient(f"wallet refused the settlement account: {_detail(response)}")
            self._settlement[currency] = str(response.json()["id"])
        return self._settlement[currency]

    async def drive(self, client_order_id: str) -> None:
        """Advance one pending order as far as possible; on a transient failure, schedule a retry."""
        order = await self.load(client_order_id)
        if order is None:
            return
        if order.status != "pending":
            await self._finish(client_order_id, {})
            return
        money = {"amount": to_decimal_string(order.amount_minor, order.currency), "currency": order.currency}
        try:
            settlement = await self.settlement_account(order.currency)
            debit = await self.wallet.post(
                "/v1/transfers",
                {
                    "from_account": order.account,
                    "to_account": settlement,
                    **money,
                    "description": f"{self.name} order {client_order_id}"[:200],
                },
                key=f"exchange-order:{self.name}:{client_order_id}:debit",
            )
            if debit.status_code != 201:
                await self._finish(client_order_id, {"status": "rejected", "failure": _detail(debit)})
                return
            placed = await self.exchange.request(
                "POST",
                "/v1/orders",
                {
                    "client_order_id": client_order_id,
                    "symbol": order.symbol,
                    "side": order.side,
                    "currency": order.currency,
                    "notional": to_decimal_string(order.amount_minor - order.fee_minor, order.currency),
                },
            )
            if placed.status_code in (200, 201):
                data = placed.json()
                await self._finish(
                    client_order_id,
                    {
                        "status": "placed",
                        "exchange_order_id": data["exchange_order_id"],
                        "price": data["price"],
                        "quantity": data["quantity"],
                    },
                )
                return
            refund = await self.wallet.post(
                "/v1/transfers",
                {
                    "from_account": settlement,
                    "to_account": order.account,
                    **money,
                    "description": f"{self.name} refund {client_order_id}"[:200],
                },
                key=f"exchange-order:{self.name}:{client_order_id}:refund",
            )
            if refund.status_code != 201:
                raise Transient(f"refund not booked yet: {_detail(refund)}")
            await self._finish(client_order_id, {"status": "rejected", "failure": _detail(placed)})
        except Transient as exc:
            log.warning("order %s pending: %s", client_order_id, exc)
            await self._retry_later(client_order_id, str(exc))

    async def _finish(self, client_order_id: str, values: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            if values:
                await conn.execute(
                    update(orders)
                    .where(orders.c.client_order_id == client_order_id, orders.c.status == "pending")
                    .values(**values, updated_at=datetime.now(UTC))
                )
            await conn.execute(delete(outbox).where(outbox.c.client_order_id == client_order_id))

    async def _retry_later(self, client_order_id: str, error: str) -> None:
        async with self.engine.begin() as conn:
            row = (
                await conn.execute(select(outbox).where(outbox.c.client_order_id == client_order_id))
            ).first()
            if row is None:
                return
            delay = min(30.0, 0.5 * 2 ** min(row.attempts, 6))
            await conn.execute(
                update(outbox)
                .where(outbox.c.client_order_id == client_order_id)
                .values(
                    attempts=row.attempts + 1,
                    next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay),
                    last_error=error[:500],
                )
            )

    async def relay(self, interval: float) -> None:
        """Forever: re-drive outbox rows whose retry time has come (after timeouts, open circuit, crash)."""
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.engine.connect() as conn:
                    due = (
                        await conn.execute(
                            select(outbox.c.client_order_id)
                            .where(outbox.c.next_attempt_at <= datetime.now(UTC))
                            .order_by(outbox.c.next_attempt_at)
                            .limit(50)
                        )
                    ).all()
                for (client_order_id,) in due:
                    await self.drive(client_order_id)
            except Exception:
                log.exception("outbox relay pass failed; retrying next pass")

    async def pending_count(self) -> int:
        async with self.engine.connect() as conn:
            return len((await conn.execute(select(outbox.c.client_order_id))).all())


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
    if row.status == "rejected":
        body = {
            "type": "https://problems.walletco.example/order-rejected",
            "title": "Order rejected",
            "status": 422,
            "detail": f"order {row.client_order_id} was rejected: {row.failure}",
            "instance": request.url.path,
            "order": view,
        }
        return JSONResponse(body, status_code=422, media_type=PROBLEM_JSON, headers=headers)
    return JSONResponse(view, status_code=201 if row.status == "placed" else 202, headers=headers)


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
        return ExchangeInfo(
            name=adapter.name,
            kind=adapter.kind,
            fee_bps=adapter.fee_bps,
            min_order=str(adapter.min_order),
            max_order=str(adapter.max_order),
            circuit=str(adapter.exchange.breaker.current_state),
            pending_orders=await adapter.pending_count(),
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
        request: Request, exchange: str, body: OrderCreate, idempotency_key: IdempotencyKey
    ) -> Response:
        adapter = _adapter(request, exchange)
        row, replayed = await adapter.submit(body, idempotency_key)
        return _order_response(adapter, request, row, replayed)

    @router.get("/orders/{client_order_id}", response_model=Order, tags=["orders"], summary="One order")
    async def get_order(request: Request, exchange: str, client_order_id: str) -> dict[str, Any]:
        adapter = _adapter(request, exchange)
        row = await adapter.load(client_order_id)
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
        engine = make_engine(settings.database_url)
        await prepare_schema(engine, metadata, MIGRATIONS)
        adapter = Adapter(
            name=name,
            kind=env("EXCHANGE_KIND"),
            fee_bps=env_int("EXCHANGE_FEE_BPS", 10),
            timeout_s=timeout_s,
            engine=engine,
            cache=make_cache(settings.cache_url, settings.service),
            exchange=ExchangeClient(env("EXCHANGE_BASE_URL"), credentials["api_key"], timeout_s),
            wallet=WalletClient(env("WALLET_URL")),
            min_order=Decimal(env("EXCHANGE_MIN_ORDER", "1")),
            max_order=Decimal(env("EXCHANGE_MAX_ORDER", "10000")),
        )
        app.state.adapter = adapter
        relay = asyncio.create_task(adapter.relay(env_int("RELAY_INTERVAL_MS", 500) / 1000))
        try:
            yield
        finally:
            relay.cancel()
            with suppress(asyncio.CancelledError):
                await relay
            await adapter.exchange.close()
            await adapter.wallet.close()
            await adapter.cache.close()
            await engine.dispose()

    async def ready(app: FastAPI) -> None:
        adapter: Adapter = app.state.adapter
        await ping(adapter.engine)
        await adapter.cache.ping()

    app = create_app(
        title=f"Exchange adapter: {name}",
        description="Orders on one exchange, paid through the wallet ledger; idempotent on client_order_id.",
        service=settings.service,
        lifespan=lifespan,
        ready=ready,
    )
    app.include_router(_router())
    return app
