"""The ledger schema. The database, not only Python, keeps the books straight:

* ``accounts.balance_minor`` can never go below zero for customer accounts (CHECK);
* every transfer has exactly one debit and one credit entry (leg CHECK + UNIQUE(transfer_id, leg))
  that sum to zero and match the transfer's accounts and amount (trigger on ``transfers`` insert;
  entries are written first and reference their transfer through a DEFERRED foreign key);
* entries and transfers are append-only (triggers reject UPDATE and DELETE);
* an idempotency key is claimed once per scope (primary key) and expires (``expires_at``);
* on PostgreSQL, ``ledger_post`` (migration 0002) does a whole posting in one statement.

On SQLite these tables and triggers come from ``metadata.create_all``; on PostgreSQL from the
alembic migrations in ``migrations/`` (which must stay equivalent).
"""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    event,
)

from walletstubs.common.idempotency import key_table

metadata = MetaData()
MIGRATIONS = "walletstubs.wallet:migrations"
AUTO_ID = BigInteger().with_variant(Integer(), "sqlite")

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("kind", String(16), nullable=False, server_default="customer"),
    Column("balance_minor", BigInteger, nullable=False, server_default="0"),
    Column("version", BigInteger, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind IN ('customer', 'external')", name="ck_accounts_kind"),
    CheckConstraint("kind = 'external' OR balance_minor >= 0", name="ck_accounts_no_negative_balance"),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("from_account", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("to_account", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("description", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("kind IN ('topup', 'transfer')", name="ck_transfers_kind"),
    CheckConstraint("amount_minor > 0", name="ck_transfers_positive"),
    CheckConstraint("from_account <> to_account", name="ck_transfers_distinct_accounts"),
)

entries = Table(
    "entries",
    metadata,
    Column("id", AUTO_ID, primary_key=True, autoincrement=True),
    Column(
        "transfer_id",
        String(36),
        ForeignKey("transfers.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
    Column("account_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("leg", String(6), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    CheckConstraint(
        "(leg = 'debit' AND amount_minor < 0) OR (leg = 'credit' AND amount_minor > 0)",
        name="ck_entries_leg_sign",
    ),
    UniqueConstraint("transfer_id", "leg", name="uq_entries_transfer_leg"),
    Index("ix_entries_account", "account_id"),
)

idempotency_keys = key_table(metadata)

_UNBALANCED = "ledger: a transfer needs one debit and one credit entry that sum to zero and match it"
_APPEND_ONLY = "ledger: {table} are append-only"

SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER IF NOT EXISTS trg_transfers_balanced BEFORE INSERT ON transfers
    WHEN (SELECT COUNT(*) FROM entries WHERE transfer_id = NEW.id) <> 2
      OR (SELECT SUM(amount_minor) FROM entries WHERE transfer_id = NEW.id) <> 0
      OR NOT EXISTS (SELECT 1 FROM entries WHERE transfer_id = NEW.id AND leg = 'credit'
                     AND account_id = NEW.to_account AND amount_minor = NEW.amount_minor)
      OR NOT EXISTS (SELECT 1 FROM entries WHERE transfer_id = NEW.id AND leg = 'debit'
                     AND account_id = NEW.from_account)
    BEGIN SELECT RAISE(ABORT, '{_UNBALANCED}'); END
    """,  # noqa: S608 -- constant DDL, no input
    *[
        f"CREATE TRIGGER IF NOT EXISTS trg_{table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY.format(table=table)}'); END"
        for table in ("entries", "transfers")
        for op in ("UPDATE", "DELETE")
    ],
]

for _statement in SQLITE_TRIGGERS:
    event.listen(metadata, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
