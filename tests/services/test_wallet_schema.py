"""The ledger's rules hold in the database itself (SQLite triggers/CHECKs, PostgreSQL migrations), even
for writes that bypass the service."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from walletstubs.common.db import make_engine, prepare_schema
from walletstubs.wallet.schema import MIGRATIONS, accounts, entries, metadata, transfers

pytestmark = pytest.mark.xdist_group("walletstubs")
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def ledger_url(backend: Any, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A ledger database of its own: these tests write books the wallet service would call unbalanced."""
    if backend.name == "embedded":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('schema') / 'wallet.db'}"
    postgres = request.getfixturevalue("real_servers").postgres
    name = f"schema_{uuid.uuid4().hex[:10]}"
    postgres.create_database(name)
    return str(postgres.url(name))


def _run(url: str, work: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        engine: AsyncEngine = make_engine(url)
        try:
            await prepare_schema(engine, metadata, MIGRATIONS)
            async with engine.begin() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _accounts(url: str, balance: int = 1000) -> tuple[str, str]:
    ids = (str(uuid.uuid4()), str(uuid.uuid4()))

    async def work(conn: AsyncConnection) -> None:
        for account in ids:
            await conn.execute(
                insert(accounts).values(
                    id=account, owner="t", currency="EUR", balance_minor=balance, created_at=NOW
                )
            )

    _run(url, work)
    return ids


def _legs(transfer: str, debit: tuple[str, int], credit: tuple[str, int]) -> list[dict[str, Any]]:
    return [
        {"transfer_id": transfer, "account_id": debit[0], "leg": "debit", "amount_minor": debit[1]},
        {"transfer_id": transfer, "account_id": credit[0], "leg": "credit", "amount_minor": credit[1]},
    ]


def _transfer(transfer: str, source: str, target: str, amount: int) -> dict[str, Any]:
    return {
        "id": transfer,
        "kind": "transfer",
        "from_account": source,
        "to_account": target,
        "amount_minor": amount,
        "currency": "EUR",
        "created_at": NOW,
    }


def test_a_balanced_transfer_is_accepted(ledger_url: str) -> None:
    source, target = _accounts(ledger_url)
    transfer = str(uuid.uuid4())

    async def work(conn: AsyncConnection) -> None:
        await conn.execute(insert(entries), _legs(transfer, (source, -250), (target, 250)))
        await conn.execute(insert(transfers).values(**_transfer(transfer, source, target, 250)))

    _run(ledger_url, work)


@pytest.mark.parametrize(
    "legs",
    [
        pytest.param(lambda s, t, x: _legs(x, (s, -250), (t, 300)), id="entries-do-not-sum-to-zero"),
        pytest.param(lambda s, t, x: _legs(x, (s, -250), (s, 250)), id="credit-to-the-wrong-account"),
        pytest.param(lambda s, t, x: [], id="no-entries"),
    ],
)
def test_an_unbalanced_transfer_is_refused(
    ledger_url: str, legs: Callable[[str, str, str], list[Any]]
) -> None:
    source, target = _accounts(ledger_url)
    transfer = str(uuid.uuid4())

    async def work(conn: AsyncConnection) -> None:
        rows = legs(source, target, transfer)
        if rows:
            await conn.execute(insert(entries), rows)
        await conn.execute(insert(transfers).values(**_transfer(transfer, source, target, 250)))

    with pytest.raises(IntegrityError, match="ledger"):
        _run(ledger_url, work)


def test_entries_without_their_transfer_cannot_commit(ledger_url: str) -> None:
    source, target = _accounts(ledger_url)

    async def work(conn: AsyncConnection) -> None:
        await conn.execute(insert(entries), _legs(str(uuid.uuid4()), (source, -5), (target, 5)))

    with pytest.raises(IntegrityError):
        _run(ledger_url, work)


def test_a_customer_balance_cannot_go_negative(ledger_url: str) -> None:
    source, _ = _accounts(ledger_url, balance=100)

    async def work(conn: AsyncConnection) -> None:
        await conn.execute(update(accounts).where(accounts.c.id == source).values(balance_minor=-1))

    with pytest.raises(IntegrityError, match="ck_accounts_no_negative_balance"):
        _run(ledger_url, work)


@pytest.mark.parametrize("table", ["entries", "transfers"])
@pytest.mark.parametrize("operation", ["update", "delete"])
def test_the_books_are_append_only(ledger_url: str, table: str, operation: str) -> None:
    source, target = _accounts(ledger_url)
    transfer = str(uuid.uuid4())

    async def book(conn: AsyncConnection) -> None:
        await conn.execute(insert(entries), _legs(transfer, (source, -7), (target, 7)))
        await conn.execute(insert(transfers).values(**_transfer(transfer, source, target, 7)))

    _run(ledger_url, book)
    target_table = entries if table == "entries" else transfers
    key = entries.c.transfer_id if table == "entries" else transfers.c.id

    async def tamper(conn: AsyncConnection) -> None:
        if operation == "update":
            await conn.execute(update(target_table).where(key == transfer).values(amount_minor=1))
        else:
            await conn.execute(delete(target_table).where(key == transfer))

    with pytest.raises(IntegrityError, match="append-only"):
        _run(ledger_url, tamper)


def test_sqlite_file_lives_where_asked(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    _accounts(url)
    assert (tmp_path / "ledger.db").stat().st_size > 0
