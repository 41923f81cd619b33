"""Roundups API: card purchases round up to the next whole unit; the spare change accumulates per
account and, once it reaches the account's threshold, is swept into a buy order on the account's
chosen exchange — paid from the wallet account through the exchange adapter, which debits the ledger.

Idempotency: a purchase is recorded once per ``purchase_id`` (default: the ``Idempotency-Key``), a
sweep is sent to the adapter under the client order id ``roundup-<sweep id>``, so a retried purchase
or a re-sent sweep never invests twice. Card data: only the last four digits or a card token are
accepted; anything that looks like a full card number (PAN) is refused without being echoed or logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from walletstubs.common.db import is_sqlite, make_engine, ping, prepare_schema
from walletstubs.common.idempotency import (
    Consumer,
    IdempotencyKey,
    IdempotencyStore,
    Stored,
    consumer_of,
    in_progress,
    is_lock_timeout,
    replay,
    request_hash,
)
from walletstubs.common.leases import claim_due
from walletstubs.common.metrics import engine_pool, outbox
from walletstubs.common.money import (
    CURRENCY_EXPONENTS,
    Amount,
    Currency,
    precise_for_currency,
    to_decimal_string,
    to_minor,
    utc,
)
from walletstubs.common.problems import Problem
from walletstubs.common.service import PROBLEM_RESPONSES, create_app
from walletstubs.common.settings import ServiceSettings, SettingsError, env, env_int
from walletstubs.common.telemetry import audit, background_trace, traced_client
from walletstubs.common.tls import client_verify
from walletstubs.roundups.schema import MIGRATIONS, idempotency_keys, metadata, purchases, settings, sweeps

log = logging.getLogger("walletstubs.roundups")
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
AccountId = Annotated[str, Field(pattern=UUID_PATTERN, description="Wallet account id")]
PURCHASE_ID = r"^[A-Za-z0-9._:-]{1,255}$"
FOLLOWED = ("pending", "ordered")
SWEEP_LEASE = timedelta(seconds=60)
PURGE_INTERVAL_SECONDS = 300.0
_DIGITS = re.compile(r"[\d][\d -]{10,}[\d]")
_UUID = re.compile(UUID_PATTERN)


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def looks_like_pan(value: str) -> bool:
    """True when ``value`` contains 12-19 digits (spaces/dashes allowed) that pass the Luhn check;
    a UUID (an account id) is never a card number, whatever digits it happens to contain."""
    if _UUID.fullmatch(value):
        return False
    for match in _DIGITS.finditer(value):
        digits = re.sub(r"[ -]", "", match.group())
        if 12 <= len(digits) <= 19 and _luhn(digits):
            return True
    return False


class PurchaseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    purchase_id: Annotated[str, Field(min_length=1, max_length=255, pattern=PURCHASE_ID)] | None = Field(
        None, description="The card processor's id of the purchase; defaults to the Idempotency-Key"
    )
    account: AccountId
    currency: Currency
    amount: Amount
    merchant: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
    card_last4: Annotated[str, Field(pattern=r"^[0-9]{4}$")] | None = Field(
        None, description="Last four digits only"
    )
    card_token: Annotated[str, Field(pattern=r"^tok_[A-Za-z0-9]{8,64}$")] | None = Field(
        None, description="The card vault's token"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_card_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, str) and looks_like_pan(value):
                    raise ValueError(
                        f"field {str(key)[:40]!r} holds what looks like a full card number; never send card "
                        "numbers, send card_last4 or card_token"
                    )
        return data

    _precision = field_validator("amount")(precise_for_currency)

    @model_validator(mode="after")
    def _card_reference(self) -> PurchaseCreate:
        if self.card_last4 is None and self.card_token is None:
            raise ValueError("send card_last4 or card_token to identify the card")
        return self


class SettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    exchange: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")]
    symbol: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Z0-9.-]+$")]
    currency: Currency
    threshold: Amount = Field(description="Sweep once the spare change reaches this amount")

    _precision = field_validator("threshold")(precise_for_currency)


class RoundupSettings(BaseModel):
    account: str
    exchange: str
    symbol: str
    currency: str
    threshold: str


class Sweep(BaseModel):
    id: str
    exchange: str
    symbol: str
    amount: str
    currency: str
    status: Literal["pending", "ordered", "placed", "rejected"]
    order_status: str | None
    failure: str | None
    created_at: datetime


class Purchase(BaseModel):
    purchase_id: str
    account: str
    amount: str
    roundup: str
    currency: str
    pending: str = Field(description="Spare change not yet swept, after this purchase")
    sweep: Sweep | None


class Pending(BaseModel):
    currency: str
    amount: str


class AccountRoundups(BaseModel):
    account: str
    settings: RoundupSettings | None
    pending: list[Pending]
    sweeps: list[Sweep]


def roundup_minor(amount_minor: int, currency: str) -> int:
    """Spare change up to the next whole unit: 12.30 EUR -> 70 cents; 12.00 -> 0."""
    unit = 10 ** CURRENCY_EXPONENTS[currency]
    return -amount_minor % unit


def _sweep_view(row: Any) -> Sweep:
    return Sweep(
        id=row.id,
        exchange=row.exchange,
        symbol=row.symbol,
        amount=to_decimal_string(row.amount_minor, row.currency),
        currency=row.currency,
        status=row.status,
        order_status=row.order_status,
        failure=row.failure,
        created_at=utc(row.created_at),
    )


def _order_of(response: httpx.Response) -> dict[str, Any] | None:
    """The adapter's order in an answer (a 201/202/200 order, or the ``order`` of a 422 rejection)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    order = body.get("order", body) if response.status_code == 422 else body
    return order if isinstance(order, dict) and "status" in order else None


def _failure(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", ""))[:500]
    except (ValueError, AttributeError):
        return f"adapter answered {response.status_code}"


def _retry_delay(attempts: int) -> timedelta:
    """How long a sweep waits after its adapter could not be reached or failed."""
    return timedelta(seconds=min(60.0, 0.5 * 2 ** min(attempts, 7)))


def _follow_delay(attempts: int) -> timedelta:
    """How long to wait before asking the adapter again about an order in flight."""
    return timedelta(seconds=min(30.0, 0.25 * 2 ** min(attempts, 7)))


def _settings_view(row: Any) -> RoundupSettings:
    return RoundupSettings(
        account=row.account,
        exchange=row.exchange,
        symbol=row.symbol,
        currency=row.currency,
        threshold=to_decimal_string(row.threshold_minor, row.currency),
    )


class Roundups:
    """State and operations of the roundups service."""

    def __init__(
        self, engine: AsyncEngine, wallet_url: str, exchange_urls: dict[str, str], ttl: timedelta
    ) -> None:
        self.engine = engine
        self.keys = IdempotencyStore(engine, idempotency_keys, ttl)
        self.wake = asyncio.Event()
        verify = client_verify()
        self.wallet = traced_client(base_url=wallet_url, timeout=10, verify=verify)
        self.exchanges = {
            name: traced_client(base_url=url, timeout=15, verify=verify)
            for name, url in exchange_urls.items()
        }

    async def close(self) -> None:
        await self.wallet.aclose()
        for client in self.exchanges.values():
            await client.aclose()

    async def wallet_account(self, account: str, currency: str, field: str) -> None:
        """Raise a 422 unless ``account`` exists in the wallet and holds ``currency``."""
        try:
            response = await self.wallet.get(f"/v1/accounts/{account}")
        except httpx.TransportError as exc:
            raise Problem(
                503, "wallet-unavailable", "Wallet unavailable", "cannot check the account now"
            ) from exc
        if response.status_code == 404:
            raise Problem(
                422, "unknown-account", "Unknown account", f"{field}: account {account} does not exist"
            )
        if response.status_code != 200:
            raise Problem(
                503, "wallet-unavailable", "Wallet unavailable", f"wallet answered {response.status_code}"
            )
        held = response.json()["currency"]
        if held != currency:
            raise Problem(
                422,
                "currency-mismatch",
                "Currency mismatch",
                f"{field}: account {account} holds {held}, not {currency}",
            )

    async def put_settings(self, account: str, body: SettingsUpdate) -> RoundupSettings:
        if body.exchange not in self.exchanges:
            raise Problem(
                422,
                "unknown-exchange",
                "Unknown exchange",
                f"exchange: {body.exchange!r} is not configured; "
                f"allowed: {', '.join(sorted(self.exchanges))}",
            )
        await self.wallet_account(account, body.currency, "account")
        values = {
            "exchange": body.exchange,
            "symbol": body.symbol,
            "currency": body.currency,
            "threshold_minor": to_minor(body.threshold, body.currency),
            "updated_at": datetime.now(UTC),
        }
        dialect_insert = sqlite_insert if is_sqlite(self.engine) else pg_insert
        statement = dialect_insert(settings).values(account=account, **values)
        async with self.engine.begin() as conn:
            await conn.execute(statement.on_conflict_do_update(index_elements=["account"], set_=values))
            row = (await conn.execute(select(settings).where(settings.c.account == account))).one()
        return _settings_view(row)

    async def account_view(self, account: str) -> AccountRoundups:
        async with self.engine.connect() as conn:
            chosen = (await conn.execute(select(settings).where(settings.c.account == account))).first()
            pending = (
                await conn.execute(
                    select(purchases.c.currency, func.sum(purchases.c.roundup_minor))
                    .where(purchases.c.account == account, purchases.c.sweep_id.is_(None))
                    .group_by(purchases.c.currency)
                )
            ).all()
            recent = (
                await conn.execute(
                    select(sweeps)
                    .where(sweeps.c.account == account)
                    .order_by(sweeps.c.created_at.desc())
                    .limit(20)
                )
            ).all()
        return AccountRoundups(
            account=account,
            settings=_settings_view(chosen) if chosen else None,
            pending=[
                Pending(currency=c, amount=to_decimal_string(int(total or 0), c)) for c, total in pending
            ],
            sweeps=[_sweep_view(row) for row in recent],
        )

    async def record(self, body: PurchaseCreate, key: str, consumer: str) -> JSONResponse:
        """Record the purchase once and answer it, in one transaction with the answer stored; a sweep
        created by it is sent to the exchange adapter after the commit (the answer shows it pending)."""
        purchase_id = body.purchase_id or key
        if not re.fullmatch(PURCHASE_ID, purchase_id):
            raise Problem(
                400,
                "invalid-purchase-id",
                "Invalid purchase id",
                "purchase_id defaults to the Idempotency-Key, which then must be 1-255 characters of "
                "[A-Za-z0-9._:-]; send a purchase_id or such a key",
            )
        scope = f"{consumer}:POST /v1/roundups/purchases"
        fingerprint = request_hash(scope, {**body.model_dump(mode="json"), "purchase_id": purchase_id})
        existing = await self._stored(consumer, purchase_id)
        if existing is not None:
            return replay(existing.request_hash, fingerprint, 201, existing.response_body, purchase_id)
        await self.wallet_account(body.account, body.currency, "account")
        amount_minor = to_minor(body.amount, body.currency)
        spare = roundup_minor(amount_minor, body.currency)
        for _ in range(3):
            try:
                answer, sweep_id = await self._record_once(
                    body,
                    consumer=consumer,
                    purchase_id=purchase_id,
                    amounts=(amount_minor, spare),
                    claim=(scope, key, fingerprint),
                )
            except IntegrityError:
                existing = await self._stored(consumer, purchase_id)
                if existing is not None:
                    return replay(
                        existing.request_hash, fingerprint, 201, existing.response_body, purchase_id
                    )
                continue
            except DBAPIError as exc:
                if is_lock_timeout(exc):
                    raise in_progress(key) from exc
                raise
            if isinstance(answer, Stored):
                return replay(answer.request_hash, fingerprint, answer.status_code, answer.response_body, key)
            if sweep_id is not None:
                audit("sweep.pending", "sweep %s opened", sweep_id, sweep=sweep_id, account=body.account)
                self.wake.set()
            return JSONResponse(answer, status_code=201)
        raise in_progress(key)

    async def _record_once(
        self,
        body: PurchaseCreate,
        *,
        consumer: str,
        purchase_id: str,
        amounts: tuple[int, int],
        claim: tuple[str, str, str],
    ) -> tuple[dict[str, Any] | Stored, str | None]:
        """One attempt: the purchase, maybe a sweep, and the stored answer, in one transaction."""
        (amount_minor, spare), (scope, key, fingerprint) = amounts, claim
        now = datetime.now(UTC)
        sweep: Sweep | None = None
        async with self.engine.begin() as conn:
            stored = await self.keys.claim(conn, scope, key, fingerprint)
            if stored is not None:
                return stored, None
            chosen = (
                await conn.execute(
                    select(settings).where(settings.c.account == body.account).with_for_update()
                )
            ).first()
            await conn.execute(
                insert(purchases).values(
                    consumer=consumer,
                    purchase_id=purchase_id,
                    account=body.account,
                    amount_minor=amount_minor,
                    roundup_minor=spare,
                    currency=body.currency,
                    merchant=body.merchant,
                    card_last4=body.card_last4,
                    card_token=body.card_token,
                    request_hash=fingerprint,
                    response_body="",
                    created_at=now,
                )
            )
            unswept = (
                purchases.c.account == body.account,
                purchases.c.currency == body.currency,
                purchases.c.sweep_id.is_(None),
            )
            pending = int(
                (
                    await conn.execute(
                        select(func.coalesce(func.sum(purchases.c.roundup_minor), 0)).where(*unswept)
                    )
                ).scalar_one()
            )
            if chosen is not None and chosen.currency == body.currency and pending >= chosen.threshold_minor:
                row = {
                    "id": str(uuid.uuid4()),
                    "account": body.account,
                    "exchange": chosen.exchange,
                    "symbol": chosen.symbol,
                    "amount_minor": pending,
                    "currency": body.currency,
                    "status": "pending",
                    "order_status": None,
                    "failure": None,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                await conn.execute(insert(sweeps).values(**row))
                await conn.execute(update(purchases).where(*unswept).values(sweep_id=row["id"]))
                sweep = _sweep_view(SimpleNamespace(**row))
                pending = 0
            answer = Purchase(
                purchase_id=purchase_id,
                account=body.account,
                amount=body.amount,
                roundup=to_decimal_string(spare, body.currency),
                currency=body.currency,
                pending=to_decimal_string(pending, body.currency),
                sweep=sweep,
            ).model_dump(mode="json")
            await conn.execute(
                update(purchases)
                .where(purchases.c.consumer == consumer, purchases.c.purchase_id == purchase_id)
                .values(response_body=json.dumps(answer))
            )
            await self.keys.store(conn, scope, key, 201, answer)
        return answer, sweep.id if sweep is not None else None

    async def _stored(self, consumer: str, purchase_id: str) -> Any:
        async with self.engine.connect() as conn:
            return (
                await conn.execute(
                    select(purchases).where(
                        purchases.c.consumer == consumer, purchases.c.purchase_id == purchase_id
                    )
                )
            ).first()

    async def _order(self, sweep: Any) -> httpx.Response:
        """Send the sweep's buy order to its adapter (idempotent on ``roundup-<sweep id>``), or ask for
        the order's state once the adapter has it."""
        client = self.exchanges.get(sweep.exchange)
        if client is None:
            raise httpx.TransportError(f"exchange {sweep.exchange} is no longer configured")
        client_order_id = f"roundup-{sweep.id}"
        if sweep.status == "ordered":
            return await client.get(f"/v1/exchanges/{sweep.exchange}/orders/{client_order_id}")
        order = {
            "client_order_id": client_order_id,
            "account": sweep.account,
            "symbol": sweep.symbol,
            "side": "buy",
            "amount": to_decimal_string(sweep.amount_minor, sweep.currency),
            "currency": sweep.currency,
        }
        return await client.post(
            f"/v1/exchanges/{sweep.exchange}/orders", json=order, headers={"Idempotency-Key": client_order_id}
        )

    async def drive(self, sweep_id: str, token: str) -> None:
        """Move one claimed sweep along with its order: ``pending`` -> ``ordered`` (the adapter has it)
        -> ``placed`` | ``rejected`` (purchases back to the pool). Failures retry with backoff."""
        fenced = (sweeps.c.id == sweep_id, sweeps.c.lease_token == token)
        async with self.engine.connect() as conn:
            sweep = (await conn.execute(select(sweeps).where(*fenced))).first()
        if sweep is None or sweep.status not in FOLLOWED:
            return
        try:
            response = await self._order(sweep)
        except httpx.TransportError as exc:
            await self._retry_later(sweep_id, token, f"adapter unreachable: {type(exc).__name__}")
            return
        order = _order_of(response)
        if response.status_code >= 500 or (order is None and response.status_code not in (400, 404, 422)):
            await self._retry_later(sweep_id, token, f"adapter answered {response.status_code}")
            return
        if order is None:
            values: dict[str, Any] = {"status": "rejected", "failure": _failure(response)}
        else:
            status = {"placed": "placed", "rejected": "rejected"}.get(order["status"], "ordered")
            values = {"status": status, "order_status": order["status"], "failure": order.get("failure")}
        now = datetime.now(UTC)
        if values["status"] == "ordered":
            values |= {"attempts": sweep.attempts + 1, "next_attempt_at": now + _follow_delay(sweep.attempts)}
        async with self.engine.begin() as conn:
            moved = await conn.execute(
                update(sweeps).where(*fenced).values(**values, lease_token=None, lease_until=None)
            )
            if moved.rowcount and values["status"] == "rejected":
                await conn.execute(
                    update(purchases).where(purchases.c.sweep_id == sweep_id).values(sweep_id=None)
                )
        if moved.rowcount and values["status"] != sweep.status:
            audit(
                f"sweep.{values['status']}",
                "sweep %s: %s -> %s",
                sweep_id,
                sweep.status,
                values["status"],
                outcome="failure" if values["status"] == "rejected" else "success",
                sweep=sweep_id,
                exchange=sweep.exchange,
            )

    async def _retry_later(self, sweep_id: str, token: str, error: str) -> None:
        log.warning("sweep %s waits: %s", sweep_id, error)
        fenced = (sweeps.c.id == sweep_id, sweeps.c.lease_token == token)
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(sweeps).where(*fenced))).first()
            if row is None:
                return
            await conn.execute(
                update(sweeps)
                .where(*fenced)
                .values(
                    attempts=row.attempts + 1,
                    next_attempt_at=datetime.now(UTC) + _retry_delay(row.attempts),
                    failure=error[:500],
                    lease_token=None,
                    lease_until=None,
                )
            )

    async def relay(self, interval: float) -> None:
        """Forever: claim due sweeps (new ones at once, on a wake-up) and move them along."""
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=interval)
            self.wake.clear()
            try:
                token, due = await claim_due(
                    self.engine, sweeps, state_column="status", states=FOLLOWED, lease=SWEEP_LEASE, limit=20
                )
                if due:
                    with background_trace("sweep relay"):
                        await asyncio.gather(*(self.drive(sweep_id, token) for sweep_id in due))
            except Exception:
                log.exception("sweep relay pass failed; retrying next pass")


def _roundups(request: Request) -> Roundups:
    service: Roundups = request.app.state.roundups
    return service


def _router() -> APIRouter:
    router = APIRouter(
        prefix="/v1/roundups", responses=PROBLEM_RESPONSES | {503: {"description": "Wallet unavailable"}}
    )

    @router.post(
        "/purchases",
        status_code=201,
        response_model=Purchase,
        tags=["roundups"],
        summary="Record a card purchase",
    )
    async def create_purchase(
        request: Request, body: PurchaseCreate, idempotency_key: IdempotencyKey, consumer: Consumer = None
    ) -> Response:
        return await _roundups(request).record(body, idempotency_key, consumer_of(consumer))

    @router.put(
        "/accounts/{account}/settings",
        response_model=RoundupSettings,
        tags=["roundups"],
        summary="Choose where spare change goes",
    )
    async def put_settings(
        request: Request, account: Annotated[str, Field(pattern=UUID_PATTERN)], body: SettingsUpdate
    ) -> RoundupSettings:
        return await _roundups(request).put_settings(account, body)

    @router.get(
        "/accounts/{account}",
        response_model=AccountRoundups,
        tags=["roundups"],
        summary="Settings, pending change, sweeps",
    )
    async def get_account(
        request: Request, account: Annotated[str, Field(pattern=UUID_PATTERN)]
    ) -> AccountRoundups:
        return await _roundups(request).account_view(account)

    return router


def _exchange_urls() -> dict[str, str]:
    raw = env("EXCHANGE_URLS", "{}")
    try:
        urls = json.loads(raw)
    except ValueError as exc:
        raise SettingsError(
            "WALLETSTUB_EXCHANGE_URLS must be a JSON object of exchange name -> adapter URL"
        ) from exc
    if not isinstance(urls, dict) or not all(isinstance(v, str) for v in urls.values()):
        raise SettingsError("WALLETSTUB_EXCHANGE_URLS must be a JSON object of exchange name -> adapter URL")
    return urls


def build_app(config: ServiceSettings) -> FastAPI:
    """The roundups app: database, wallet URL and exchange adapter URLs from ``WALLETSTUB_*``."""
    exchange_urls = _exchange_urls()
    wallet_url = env("WALLET_URL")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(config.database_url)
        await prepare_schema(engine, metadata, MIGRATIONS)
        service = Roundups(engine, wallet_url, exchange_urls, timedelta(hours=config.idempotency_ttl_hours))
        app.state.roundups = service
        app.state.samplers = [
            engine_pool("roundups", engine),
            outbox("sweeps", engine, sweeps, "status", FOLLOWED),
        ]
        tasks = [
            asyncio.create_task(service.relay(env_int("RELAY_INTERVAL_MS", 1000) / 1000)),
            asyncio.create_task(service.keys.purge_forever(PURGE_INTERVAL_SECONDS)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            with suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks)
            await service.close()
            await engine.dispose()

    async def ready(app: FastAPI) -> None:
        await ping(_roundups_state(app).engine)

    app = create_app(
        title="Roundups",
        description="Card purchases rounded up; spare change swept into investments via the wallet ledger.",
        service=config.service,
        lifespan=lifespan,
        ready=ready,
    )
    app.include_router(_router())
    return app


def _roundups_state(app: FastAPI) -> Roundups:
    service: Roundups = app.state.roundups
    return service
