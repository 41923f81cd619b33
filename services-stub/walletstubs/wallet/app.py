"""Wallet API: accounts, top-ups and transfers on the double-entry ledger, with cached balance reads.

Every money-moving request runs in one database transaction that claims its ``Idempotency-Key``,
locks the two accounts in id order, debits with ``UPDATE … WHERE balance >= amount``, credits,
writes the two entries and the transfer (the schema re-checks all of it) and stores the answer
for replays. Anything that fails rolls the whole transaction back: no partial writes. On
PostgreSQL all of that is one statement, ``ledger_post`` (migration 0002), in one round trip on a
plain asyncpg pool; on SQLite the same steps run in one ``BEGIN IMMEDIATE`` transaction.

Balance reads are cached (Redis or in-process), and the cache is off the write path: after the
commit the new, higher-versioned balances are published best-effort (a Redis outage queues them for
the background repair; the transfer has succeeded either way). The cache refuses to replace a newer
version with an older one, so a reader that loaded a row before a commit cannot hide that commit.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import asyncpg
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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from walletstubs.common.cache import Cache, Publisher, make_cache
from walletstubs.common.db import is_sqlite, make_engine, make_pg_pool, ping, prepare_schema
from walletstubs.common.faults import crash_point
from walletstubs.common.idempotency import (
    KEY_PATTERN,
    Consumer,
    IdempotencyKey,
    IdempotencyStore,
    Stored,
    consumer_of,
    in_progress,
    replay,
    request_hash,
)
from walletstubs.common.metrics import asyncpg_pool, engine_pool
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
from walletstubs.common.telemetry import audit
from walletstubs.wallet.schema import MIGRATIONS, accounts, entries, idempotency_keys, metadata, transfers

BALANCE_TTL_SECONDS = 30
PURGE_INTERVAL_SECONDS = 300.0
REFUSAL_SQLSTATE = "WL001"
POST_SQL = "SELECT * FROM ledger_post($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
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


@dataclass(frozen=True)
class AccountState:
    """An account row as committed: what the cache publishes (versioned) and the API shows."""

    id: str
    kind: str
    owner: str
    currency: str
    balance_minor: int
    version: int
    created_at: datetime

    @classmethod
    def of(cls, row: Row[Any]) -> AccountState:
        return cls(row.id, row.kind, row.owner, row.currency, row.balance_minor, row.version, row.created_at)

    def view(self) -> dict[str, Any]:
        return Account(
            id=uuid.UUID(self.id),
            owner=self.owner,
            currency=self.currency,
            balance=to_decimal_string(self.balance_minor, self.currency),
            created_at=utc(self.created_at),
        ).model_dump(mode="json")


@dataclass(frozen=True)
class Movement:
    """One posting: ``amount_minor`` from ``debit`` to ``credit``; ``fields`` name the two accounts in
    the request, for error messages."""

    kind: Literal["topup", "transfer"]
    debit: str
    credit: str
    amount_minor: int
    amount: str
    currency: str
    description: str | None
    fields: tuple[str, str]

    def refusal(self, reason: str, leg: str, hint: str) -> Problem:
        """The 422 for a posting the ledger refused (nothing was written)."""
        field, account = (self.fields[0], self.debit) if leg == "debit" else (self.fields[1], self.credit)
        if reason == "insufficient-funds":
            return Problem(
                422,
                "insufficient-funds",
                "Insufficient funds",
                f"{field}: account {account} has less than {self.amount} {self.currency} available",
            )
        if reason == "currency-mismatch":
            return Problem(
                422,
                "currency-mismatch",
                "Currency mismatch",
                f"{field}: account {account} holds {hint}, not {self.currency}",
            )
        return Problem(
            422, "unknown-account", "Unknown account", f"{field}: account {account} does not exist"
        )


class Ledger:
    """The wallet's state: engines, the posting pool, the cache, and the transactional operations."""

    def __init__(
        self,
        engine: AsyncEngine,
        reader: AsyncEngine,
        cache: Cache,
        *,
        ttl: timedelta,
        pool: asyncpg.Pool | None = None,
    ) -> None:
        self.engine = engine
        self.reader = reader
        self.cache = cache
        self.publisher = Publisher(cache)
        self.keys = IdempotencyStore(engine, idempotency_keys, ttl)
        self.ttl = ttl
        self.pool = pool

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

    async def cache_account(self, state: AccountState) -> dict[str, Any]:
        """Publish ``state`` (after commit, best-effort) and return its view."""
        view = state.view()
        if state.kind == "customer":
            await self.publisher.publish(
                f"account:{state.id}", state.version, json.dumps(view), BALANCE_TTL_SECONDS
            )
        return view

    async def post(self, movement: Movement, *, scope: str, key: str, fingerprint: str) -> Response:
        """Post ``movement`` once per ``(scope, key)`` and answer 201 with the transfer (or replay the
        first answer). The balances are published to the cache only after the commit."""
        transfer = {
            "id": str(uuid.uuid4()),
            "kind": movement.kind,
            "from_account": movement.debit,
            "to_account": movement.credit,
            "amount_minor": movement.amount_minor,
            "currency": movement.currency,
            "description": movement.description,
            "created_at": datetime.now(UTC),
        }
        answer = _transfer_view(transfer)
        if self.pool is not None:
            posted = await self._post_postgres(
                movement, transfer=transfer, answer=answer, scope=scope, key=key, fingerprint=fingerprint
            )
        else:
            posted = await self._post_sqlite(
                movement, transfer=transfer, answer=answer, scope=scope, key=key, fingerprint=fingerprint
            )
        if isinstance(posted, Stored):
            return replay(posted.request_hash, fingerprint, posted.status_code, posted.response_body, key)
        crash_point("after-commit")
        audit(
            "ledger.posted",
            "transfer %s posted: %s %s minor units",
            transfer["id"],
            movement.currency,
            movement.amount_minor,
            transfer=transfer["id"],
            kind=movement.kind,
            debit=movement.debit,
            credit=movement.credit,
            amount_minor=movement.amount_minor,
            currency=movement.currency,
        )
        for state in posted:
            await self.cache_account(state)
        return JSONResponse(answer, status_code=201)

    async def _post_postgres(
        self,
        movement: Movement,
        *,
        transfer: dict[str, Any],
        answer: dict[str, Any],
        scope: str,
        key: str,
        fingerprint: str,
    ) -> Stored | list[AccountState]:
        """One round trip: ``ledger_post`` (migration 0002) in autocommit. A dead pooled connection is
        retried once: the key makes the retry harmless even if the first call committed."""
        assert self.pool is not None
        args = (
            scope,
            key,
            fingerprint,
            transfer["created_at"] + self.ttl,
            transfer["id"],
            movement.kind,
            movement.debit,
            movement.credit,
            movement.amount_minor,
            movement.currency,
            movement.description,
            transfer["created_at"],
            json.dumps(answer),
            movement.kind == "topup",
        )
        for attempt in (1, 2):
            try:
                async with self.pool.acquire() as conn:
                    row = await conn.fetchrow(POST_SQL, *args)
                break
            except (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, OSError):
                if attempt == 2:
                    raise
            except asyncpg.LockNotAvailableError as exc:
                raise in_progress(key) from exc
            except asyncpg.PostgresError as exc:
                if exc.sqlstate == REFUSAL_SQLSTATE:
                    raise movement.refusal(
                        str(exc.args[0] if exc.args else ""),
                        getattr(exc, "detail", ""),
                        getattr(exc, "hint", ""),
                    ) from exc
                raise
        assert row is not None
        if row["outcome"] == "replayed":
            return Stored(row["request_hash"], row["status_code"], row["response_body"])
        return [
            AccountState(
                id=account,
                kind=row[f"{leg}_kind"],
                owner=row[f"{leg}_owner"],
                currency=movement.currency,
                balance_minor=row[f"{leg}_balance"],
                version=row[f"{leg}_version"],
                created_at=row[f"{leg}_created_at"],
            )
            for leg, account in (("debit", movement.debit), ("credit", movement.credit))
        ]

    async def _post_sqlite(
        self,
        movement: Movement,
        *,
        transfer: dict[str, Any],
        answer: dict[str, Any],
        scope: str,
        key: str,
        fingerprint: str,
    ) -> Stored | list[AccountState]:
        """The same steps as ``ledger_post`` in one ``BEGIN IMMEDIATE`` transaction."""
        async with self.engine.begin() as conn:
            stored = await self.keys.claim(conn, scope, key, fingerprint)
            if stored is not None:
                return stored
            found = {
                row.id: row
                for row in (
                    await conn.execute(
                        select(accounts).where(accounts.c.id.in_([movement.debit, movement.credit]))
                    )
                ).all()
            }
            for leg, account_id in (("debit", movement.debit), ("credit", movement.credit)):
                row = found.get(account_id)
                allowed = (
                    ("customer", "external") if leg == "debit" and movement.kind == "topup" else ("customer",)
                )
                if row is None or row.kind not in allowed:
                    raise movement.refusal("unknown-account", leg, "")
                if row.currency != movement.currency:
                    raise movement.refusal("currency-mismatch", leg, row.currency)
            debited = await conn.execute(
                update(accounts)
                .where(
                    accounts.c.id == movement.debit,
                    or_(accounts.c.balance_minor >= movement.amount_minor, accounts.c.kind == "external"),
                )
                .values(
                    balance_minor=accounts.c.balance_minor - movement.amount_minor,
                    version=accounts.c.version + 1,
                )
                .returning(accounts.c.id)
            )
            if debited.first() is None:
                raise movement.refusal("insufficient-funds", "debit", "")
            await conn.execute(
                update(accounts)
                .where(accounts.c.id == movement.credit)
                .values(
                    balance_minor=accounts.c.balance_minor + movement.amount_minor,
                    version=accounts.c.version + 1,
                )
            )
            await conn.execute(
                insert(entries),
                [
                    {
                        "transfer_id": transfer["id"],
                        "account_id": movement.debit,
                        "leg": "debit",
                        "amount_minor": -movement.amount_minor,
                    },
                    {
                        "transfer_id": transfer["id"],
                        "account_id": movement.credit,
                        "leg": "credit",
                        "amount_minor": movement.amount_minor,
                    },
                ],
            )
            await conn.execute(insert(transfers).values(**transfer))
            await self.keys.store(conn, scope, key, 201, answer)
            rows = (
                await conn.execute(
                    select(accounts).where(accounts.c.id.in_([movement.debit, movement.credit]))
                )
            ).all()
        return [AccountState.of(row) for row in rows]

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
        if issues:
            audit(
                "ledger.imbalance",
                "ledger verification found %d issue(s): %s",
                len(issues),
                "; ".join(issues),
                outcome="failure",
                transfers=transfer_count,
                accounts=account_count,
            )
        return Verification(
            balanced=not issues, transfers=transfer_count, accounts=account_count, issues=issues
        )


def _scope(consumer: str | None, operation: str) -> str:
    """Idempotency keys belong to the calling consumer, so two consumers' keys never collide."""
    return f"{consumer_of(consumer)}:{operation}"


def _ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.ledger
    return ledger


async def _post(request: Request, movement: Movement, body: BaseModel, scope: str, key: str) -> Response:
    fingerprint = request_hash(scope, body.model_dump(mode="json"))
    return await _ledger(request).post(movement, scope=scope, key=key, fingerprint=fingerprint)


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
            Header(alias="Idempotency-Key", min_length=1, max_length=255, pattern=KEY_PATTERN),
        ] = None,
        consumer: Consumer = None,
    ) -> Response:
        ledger = _ledger(request)

        async def work(conn: AsyncConnection) -> tuple[int, dict[str, Any]]:
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
            return 201, view.model_dump(mode="json")

        if idempotency_key is not None:
            scope = _scope(consumer, "POST /v1/accounts")
            fingerprint = request_hash(scope, body.model_dump(mode="json"))
            return await ledger.keys.run(scope, idempotency_key, fingerprint, work)
        async with ledger.engine.begin() as conn:
            status, answer = await work(conn)
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
        view = await ledger.cache_account(AccountState.of(row))
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
        movement = Movement(
            kind="topup",
            debit=external_account_id(body.currency),
            credit=str(body.account),
            amount_minor=to_minor(body.amount, body.currency),
            amount=body.amount,
            currency=body.currency,
            description=body.reference,
            fields=("external", "account"),
        )
        return await _post(request, movement, body, _scope(consumer, "POST /v1/topups"), idempotency_key)

    @router.post("/transfers", status_code=201, response_model=Transfer, tags=["money"], summary="Move money")
    async def create_transfer(
        request: Request, body: TransferCreate, idempotency_key: IdempotencyKey, consumer: Consumer = None
    ) -> Response:
        movement = Movement(
            kind="transfer",
            debit=str(body.from_account),
            credit=str(body.to_account),
            amount_minor=to_minor(body.amount, body.currency),
            amount=body.amount,
            currency=body.currency,
            description=body.description,
            fields=("from_account", "to_account"),
        )
        return await _post(request, movement, body, _scope(consumer, "POST /v1/transfers"), idempotency_key)

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
    """The wallet ASGI app for ``settings`` (database, posting pool and cache open in its lifespan)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, pool_size=max(2, settings.db_pool_size // 2))
        cache = make_cache(settings.cache_url, settings.service)
        await prepare_schema(engine, metadata, MIGRATIONS)
        sqlite = is_sqlite(engine)
        reader = make_engine(settings.database_url, reads_only=True) if sqlite else engine
        pool = (
            None
            if sqlite
            else await make_pg_pool(settings.database_url, settings.db_pool_size, name="wallet")
        )
        ledger = Ledger(engine, reader, cache, ttl=timedelta(hours=settings.idempotency_ttl_hours), pool=pool)
        await ledger.ensure_external_accounts()
        app.state.ledger = ledger
        app.state.samplers = [engine_pool("ledger", engine)]
        if pool is not None:
            app.state.samplers.append(asyncpg_pool("posting", pool))
        tasks = [
            asyncio.create_task(ledger.publisher.repair_forever()),
            asyncio.create_task(ledger.keys.purge_forever(PURGE_INTERVAL_SECONDS)),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if pool is not None:
                await pool.close()
            await cache.close()
            await reader.dispose()
            await engine.dispose()

    async def ready(app: FastAPI) -> None:
        await ping(app.state.ledger.engine)

    app = create_app(
        title="Wallet",
        description="Accounts, top-ups and transfers on a double-entry ledger. Amounts are decimal strings.",
        service=settings.service,
        lifespan=lifespan,
        ready=ready,
    )
    app.include_router(_router())
    return app
