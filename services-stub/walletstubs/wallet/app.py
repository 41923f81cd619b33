"""Wallet API: accounts, top-ups and transfers on the double-entry ledger, with cached balance reads.

Every money-moving request runs in one database transaction that claims its ``Idempotency-Key``,
locks the two accounts in id order, debits with ``UPDATE … WHERE balance >= amount``, credits,
writes the two entries and the transfer (the schema re-checks all of it) and stores the answer
for replays. Anything that fails rolls the whole transaction back: no partial writes.

Balance reads are cached (Redis or in-process). Writers delete the cached accounts before commit
and store the new, higher-versioned value after it; the cache refuses to replace a newer version
with an older one, so a cached read never shows a balance older than the last committed transfer.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from sqlalchemy import Row, and_, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from walletstubs.common.cache import Cache, make_cache
from walletstubs.common.db import is_sqlite, make_engine, ping, prepare_schema
from walletstubs.common.idempotency import IdempotencyKey, replay, request_hash
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
from walletstubs.common.settings import ServiceSettings
from walletstubs.wallet.schema import MIGRATIONS, accounts, entries, idempotency_keys, metadata, transfers

BALANCE_TTL_SECONDS = 30
EXTERNAL_NAMESPACE = uuid.UUID("6f1c9a52-1d2e-4c4b-9a8e-2f6f0e5d7a11")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Owner = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]
Description = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class AccountCreate(_Body):
    owner: Owner = Field(description="Customer reference (not a card number)", examples=["user-42"])
    currency: Currency


class Account(BaseModel):
    id: uuid.UUID
    owner: str
    currency: str
    balance: str = Field(description="Decimal string in the account's currency", examples=["12.34"])
    created_at: datetime


class _Precise(_Body):
    currency: Currency
    amount: Amount

    _precision = field_validator("amount")(precise_for_currency)


class TopupCreate(_Precise):
    account: uuid.UUID
    reference: Description | None = Field(None, description="Funding reference, e.g. a bank transfer id")


class TransferCreate(_Precise):
    from_account: uuid.UUID
    to_account: uuid.UUID
    description: Description | None = None

    @model_validator(mode="after")
    def _distinct(self) -> TransferCreate:
        if self.from_account == self.to_account:
            raise ValueError("from_account and to_account must differ")
        return self


class Transfer(BaseModel):
    id: uuid.UUID
    kind: Literal["topup", "transfer"]
    from_account: uuid.UUID
    to_account: uuid.UUID
    amount: str
    currency: str
    description: str | None
    created_at: datetime


class Entry(BaseModel):
    transfer_id: uuid.UUID
    leg: Literal["debit", "credit"]
    amount: str = Field(description="Signed decimal string: negative for debits")


class Verification(BaseModel):
    balanced: bool
    transfers: int
    accounts: int = Field(description="Customer accounts (external funding accounts excluded)")
    issues: list[str] = Field(description="What is wrong when balanced is false")


def external_account_id(currency: str) -> str:
    """The funding account a top-up in ``currency`` is drawn from (the outside world; may go negative)."""
    return str(uuid.uuid5(EXTERNAL_NAMESPACE, f"external:{currency}"))


def _account_view(row: Row[Any]) -> dict[str, Any]:
    return Account(
        id=row.id,
        owner=row.owner,
        currency=row.currency,
        balance=to_decimal_string(row.balance_minor, row.currency),
        created_at=utc(row.created_at),
    ).model_dump(mode="json")


def _transfer_view(row: Row[Any] | dict[str, Any]) -> dict[str, Any]:
    data = dict(row._mapping) if isinstance(row, Row) else row
    return Transfer(
        id=data["id"],
        kind=data["kind"],
        from_account=data["from_account"],
        to_account=data["to_account"],
        amount=to_decimal_string(data["amount_minor"], data["currency"]),
        currency=data["currency"],
        description=data["description"],
        created_at=utc(data["created_at"]),
    ).model_dump(mode="json")


class Ledger:
    """The wallet's state: engine, cache, and the transactional operations on them."""

    def __init__(self, engine: AsyncEngine, reader: AsyncEngine, cache: Cache) -> None:
        self.engine = engine
        self.reader = reader
        self.cache = cache

    async def ensure_external_accounts(self) -> None:
        rows = [
            {
                "id": external_account_id(currency),
                "owner": f"external:{currency}",
                "currency": currency,
                "kind": "external",
                "created_at": datetime.now(UTC),
            }
            for currency in CURRENCY_EXPONENTS
        ]
        dialect_insert = sqlite_insert if is_sqlite(self.engine) else pg_insert
        async with self.engine.begin() as conn:
            await conn.execute(dialect_insert(accounts).values(rows).on_conflict_do_nothing())

    async def cache_account(self, row: Row[Any]) -> dict[str, Any]:
        view = _account_view(row)
        await self.cache.set_if_newer(
            f"account:{row.id}", int(row.version), json.dumps(view), BALANCE_TTL_SECONDS
        )
        return view

    async def idempotent(
        self,
        scope: str,
        key: str,
        body: BaseModel,
        work: Callable[[AsyncConnection], Awaitable[tuple[int, dict[str, Any], list[str]]]],
    ) -> JSONResponse:
        """Run ``work`` once per (scope, key): claim the key, do the work, store the answer, commit;
        concurrent duplicates wait on the key's unique index and then replay the stored answer."""
        fingerprint = request_hash(scope, body.model_dump(mode="json"))
        for _ in range(3):
            try:
                async with self.engine.begin() as conn:
                    stored = (
                        await conn.execute(
                            select(idempotency_keys).where(
                                idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
                            )
                        )
                    ).first()
                    if stored is not None:
                        return replay(
                            stored.request_hash, fingerprint, stored.status_code, stored.response_body, key
                        )
                    await conn.execute(
                        insert(idempotency_keys).values(
                            scope=scope,
                            key=key,
                            request_hash=fingerprint,
                            status_code=0,
                            response_body="",
                            created_at=datetime.now(UTC),
                        )
                    )
                    status, answer, touched = await work(conn)
                    await conn.execute(
                        update(idempotency_keys)
                        .where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
                        .values(status_code=status, response_body=json.dumps(answer))
                    )
                    await self.cache.delete(*(f"account:{account}" for account in touched))
            except IntegrityError as exc:
                if not await self._key_taken(scope, key):
                    raise Problem(
                        409,
                        "ledger-constraint",
                        "Rejected by the ledger",
                        "the ledger's integrity rules rejected this operation; nothing was written",
                    ) from exc
                continue
            await self._refresh(touched)
            return JSONResponse(answer, status_code=status)
        raise Problem(
            409, "idempotency-conflict", "Concurrent request", f"Idempotency-Key {key!r} is busy; retry"
        )

    async def _key_taken(self, scope: str, key: str) -> bool:
        async with self.reader.connect() as conn:
            found = await conn.execute(
                select(idempotency_keys.c.key).where(
                    idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
                )
            )
            return found.first() is not None

    async def _refresh(self, account_ids: list[str]) -> None:
        async with self.reader.connect() as conn:
            rows = (await conn.execute(select(accounts).where(accounts.c.id.in_(account_ids)))).all()
        for row in rows:
            if row.kind == "customer":
                await self.cache_account(row)

    async def move(
        self,
        conn: AsyncConnection,
        *,
        kind: Literal["topup", "transfer"],
        debit: str,
        credit: str,
        amount: str,
        currency: str,
        description: str | None,
        fields: tuple[str, str],
    ) -> tuple[int, dict[str, Any], list[str]]:
        """Post one transfer inside ``conn``'s transaction; raises :class:`Problem` (rolling back)
        for unknown accounts, currency mismatch or insufficient funds."""
        amount_minor = to_minor(amount, currency)
        locked = (
            await conn.execute(
                select(accounts)
                .where(accounts.c.id.in_([debit, credit]))
                .order_by(accounts.c.id)
                .with_for_update()
            )
        ).all()
        found = {row.id: row for row in locked}
        for field, account_id in zip(fields, (debit, credit), strict=True):
            row = found.get(account_id)
            if row is None or (row.kind != "customer" and field != "external"):
                raise Problem(
                    422, "unknown-account", "Unknown account", f"{field}: account {account_id} does not exist"
                )
            if row.currency != currency:
                raise Problem(
                    422,
                    "currency-mismatch",
                    "Currency mismatch",
                    f"{field}: account {account_id} holds {row.currency}, not {currency}",
                )
        debited = await conn.execute(
            update(accounts)
            .where(
                accounts.c.id == debit,
                or_(accounts.c.balance_minor >= amount_minor, accounts.c.kind == "external"),
            )
            .values(balance_minor=accounts.c.balance_minor - amount_minor, version=accounts.c.version + 1)
            .returning(accounts.c.id)
        )
        if debited.first() is None:
            raise Problem(
                422,
                "insufficient-funds",
                "Insufficient funds",
                f"{fields[0]}: account {debit} has less than {amount} {currency} available",
            )
        await conn.execute(
            update(accounts)
            .where(accounts.c.id == credit)
            .values(balance_minor=accounts.c.balance_minor + amount_minor, version=accounts.c.version + 1)
        )
        transfer = {
            "id": str(uuid.uuid4()),
            "kind": kind,
            "from_account": debit,
            "to_account": credit,
            "amount_minor": amount_minor,
            "currency": currency,
            "description": description,
            "created_at": datetime.now(UTC),
        }
        await conn.execute(
            insert(entries),
            [
                {
                    "transfer_id": transfer["id"],
                    "account_id": debit,
                    "leg": "debit",
                    "amount_minor": -amount_minor,
                },
                {
                    "transfer_id": transfer["id"],
                    "account_id": credit,
                    "leg": "credit",
                    "amount_minor": amount_minor,
                },
            ],
        )
        await conn.execute(insert(transfers).values(**transfer))
        return 201, _transfer_view(transfer), [debit, credit]

    async def verify(self) -> Verification:
        """Recompute the books from the entries: every transfer balanced, balances equal their entries,
        no negative customer balance, each currency's balances sum to zero."""
        per_transfer = (
            select(entries.c.transfer_id)
            .group_by(entries.c.transfer_id)
            .having(or_(func.sum(entries.c.amount_minor) != 0, func.count() != 2))
            .subquery()
        )
        entry_sum = (
            select(func.coalesce(func.sum(entries.c.amount_minor), 0))
            .where(entries.c.account_id == accounts.c.id)
            .scalar_subquery()
        )
        async with self.reader.connect() as conn:
            unbalanced = (await conn.execute(select(func.count()).select_from(per_transfer))).scalar_one()
            orphans = (
                await conn.execute(
                    select(func.count())
                    .select_from(transfers)
                    .where(~select(entries.c.id).where(entries.c.transfer_id == transfers.c.id).exists())
                )
            ).scalar_one()
            drifted = (
                await conn.execute(
                    select(func.count()).select_from(accounts).where(accounts.c.balance_minor != entry_sum)
                )
            ).scalar_one()
            negative = (
                await conn.execute(
                    select(func.count())
                    .select_from(accounts)
                    .where(and_(accounts.c.kind == "customer", accounts.c.balance_minor < 0))
                )
            ).scalar_one()
            totals = (
                await conn.execute(
                    select(accounts.c.currency, func.sum(accounts.c.balance_minor)).group_by(
                        accounts.c.currency
                    )
                )
            ).all()
            transfer_count = (await conn.execute(select(func.count()).select_from(transfers))).scalar_one()
            account_count = (
                await conn.execute(
                    select(func.count()).select_from(accounts).where(accounts.c.kind == "customer")
                )
            ).scalar_one()
        issues = [
            message
            for count, message in (
                (unbalanced, f"{unbalanced} transfer(s) whose entries do not sum to zero"),
                (orphans, f"{orphans} transfer(s) without entries"),
                (drifted, f"{drifted} account(s) whose balance differs from the sum of their entries"),
                (negative, f"{negative} customer account(s) with a negative balance"),
            )
            if count
        ]
        issues += [f"{currency} balances sum to {total}, not 0" for currency, total in totals if total]
        return Verification(
            balanced=not issues, transfers=transfer_count, accounts=account_count, issues=issues
        )


Consumer = Annotated[
    str | None,
    Header(
        alias="X-Consumer",
        pattern=r"^[a-z][a-z0-9-]{0,40}$",
        description="Set by the gateway (never by clients): idempotency keys are scoped per consumer",
    ),
]


def _scope(consumer: str | None, operation: str) -> str:
    """Idempotency keys belong to the calling consumer, so two consumers' keys never collide."""
    return f"{consumer or 'direct'}:{operation}"


def _ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


def _router() -> APIRouter:
    router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)

    @router.post(
        "/accounts", status_code=201, response_model=Account, tags=["accounts"], summary="Open an account"
    )
    async def create_account(
        request: Request,
        body: AccountCreate,
        idempotency_key: Annotated[
            str | None,
            Header(alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$"),
        ] = None,
        consumer: Consumer = None,
    ) -> Response:
        ledger = _ledger(request)

        async def work(conn: AsyncConnection) -> tuple[int, dict[str, Any], list[str]]:
            account_id, created_at = uuid.uuid4(), datetime.now(UTC)
            await conn.execute(
                insert(accounts).values(
                    id=str(account_id), owner=body.owner, currency=body.currency, created_at=created_at
                )
            )
            view = Account(
                id=account_id,
                owner=body.owner,
                currency=body.currency,
                balance=to_decimal_string(0, body.currency),
                created_at=created_at,
            )
            return 201, view.model_dump(mode="json"), []

        if idempotency_key is not None:
            return await ledger.idempotent(_scope(consumer, "POST /v1/accounts"), idempotency_key, body, work)
        async with ledger.engine.begin() as conn:
            status, answer, _ = await work(conn)
        return JSONResponse(answer, status_code=status)

    @router.get(
        "/accounts/{account_id}", response_model=Account, tags=["accounts"], summary="Account and balance"
    )
    async def get_account(
        request: Request,
        account_id: uuid.UUID,
        cache_control: Annotated[str | None, Header(alias="Cache-Control")] = None,
    ) -> Response:
        ledger = _ledger(request)
        key = f"account:{account_id}"
        if "no-cache" not in (cache_control or ""):
            cached = await ledger.cache.get(key)
            if cached is not None:
                return Response(cached, media_type="application/json", headers={"X-Cache": "hit"})
        async with ledger.reader.connect() as conn:
            row = (
                await conn.execute(
                    select(accounts).where(accounts.c.id == str(account_id), accounts.c.kind == "customer")
                )
            ).first()
        if row is None:
            raise Problem(404, "unknown-account", "Unknown account", f"account {account_id} does not exist")
        view = await ledger.cache_account(row)
        return Response(json.dumps(view), media_type="application/json", headers={"X-Cache": "miss"})

    @router.get(
        "/accounts/{account_id}/entries", response_model=list[Entry], tags=["accounts"], summary="Statement"
    )
    async def list_entries(
        request: Request, account_id: uuid.UUID, limit: Annotated[int, Field(ge=1, le=500)] = 50
    ) -> list[Entry]:
        ledger = _ledger(request)
        async with ledger.reader.connect() as conn:
            account = (
                await conn.execute(
                    select(accounts.c.currency).where(
                        accounts.c.id == str(account_id), accounts.c.kind == "customer"
                    )
                )
            ).first()
            if account is None:
                raise Problem(
                    404, "unknown-account", "Unknown account", f"account {account_id} does not exist"
                )
            rows = (
                await conn.execute(
                    select(entries)
                    .where(entries.c.account_id == str(account_id))
                    .order_by(entries.c.id.desc())
                    .limit(limit)
                )
            ).all()
        return [
            Entry(
                transfer_id=row.transfer_id,
                leg=row.leg,
                amount=to_decimal_string(row.amount_minor, account.currency),
            )
            for row in rows
        ]

    @router.post(
        "/topups", status_code=201, response_model=Transfer, tags=["money"], summary="Fund an account"
    )
    async def create_topup(
        request: Request, body: TopupCreate, idempotency_key: IdempotencyKey, consumer: Consumer = None
    ) -> Response:
        ledger = _ledger(request)

        async def work(conn: AsyncConnection) -> tuple[int, dict[str, Any], list[str]]:
            return await ledger.move(
                conn,
                kind="topup",
                debit=external_account_id(body.currency),
                credit=str(body.account),
                amount=body.amount,
                currency=body.currency,
                description=body.reference,
                fields=("external", "account"),
            )

        return await ledger.idempotent(_scope(consumer, "POST /v1/topups"), idempotency_key, body, work)

    @router.post("/transfers", status_code=201, response_model=Transfer, tags=["money"], summary="Move money")
    async def create_transfer(
        request: Request, body: TransferCreate, idempotency_key: IdempotencyKey, consumer: Consumer = None
    ) -> Response:
        ledger = _ledger(request)

        async def work(conn: AsyncConnection) -> tuple[int, dict[str, Any], list[str]]:
            return await ledger.move(
                conn,
                kind="transfer",
                debit=str(body.from_account),
                credit=str(body.to_account),
                amount=body.amount,
                currency=body.currency,
                description=body.description,
                fields=("from_account", "to_account"),
            )

        return await ledger.idempotent(_scope(consumer, "POST /v1/transfers"), idempotency_key, body, work)

    @router.get("/transfers/{transfer_id}", response_model=Transfer, tags=["money"], summary="One transfer")
    async def get_transfer(request: Request, transfer_id: uuid.UUID) -> dict[str, Any]:
        async with _ledger(request).reader.connect() as conn:
            row = (await conn.execute(select(transfers).where(transfers.c.id == str(transfer_id)))).first()
        if row is None:
            raise Problem(
                404, "unknown-transfer", "Unknown transfer", f"transfer {transfer_id} does not exist"
            )
        return _transfer_view(row)

    @router.get("/ledger/verify", response_model=Verification, tags=["operations"], summary="Audit the books")
    async def verify(request: Request) -> Verification:
        return await _ledger(request).verify()

    return router


def build_app(settings: ServiceSettings) -> FastAPI:
    """The wallet ASGI app for ``settings`` (database and cache are opened in its lifespan)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        cache = make_cache(settings.cache_url, settings.service)
        await prepare_schema(engine, metadata, MIGRATIONS)
        reader = make_engine(settings.database_url, reads_only=True) if is_sqlite(engine) else engine
        ledger = Ledger(engine, reader, cache)
        await ledger.ensure_external_accounts()
        app.state.ledger = ledger
        try:
            yield
        finally:
            await cache.close()
            await reader.dispose()
            await engine.dispose()

    async def ready(app: FastAPI) -> None:
        ledger: Ledger = app.state.ledger
        await ping(ledger.engine)
        await ledger.cache.ping()

    app = create_app(
        title="Wallet",
        description="Accounts, top-ups and transfers on a double-entry ledger. Amounts are decimal strings.",
        service=settings.service,
        lifespan=lifespan,
        ready=ready,
    )
    app.include_router(_router())
    return app
