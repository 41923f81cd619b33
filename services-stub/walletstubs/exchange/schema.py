"""The adapter's tables: orders, each one a saga row, the settlement accounts, and idempotency keys.

An order is written, with the intent of its first step, in one transaction before anything leaves the
process. Its ``state`` always names the next step to run (``debiting``, ``placing``, ``compensating``)
or a final outcome (``placed``, ``rejected``, ``refunded``, ``dead``); a driver holds the row through a
lease (``lease_token``, ``lease_until``) and every transition is fenced by that token, so a driver
that lost its lease changes nothing. ``id`` is the client order id the exchange sees (derived from
the consumer and its ``client_order_id``); the wallet's keys derive from it, so every repeated step
is idempotent.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from walletstubs.common.idempotency import key_table

metadata = MetaData()
MIGRATIONS = "walletstubs.exchange:migrations"
ACTIVE_STATES = ("debiting", "placing", "compensating")
FINAL_STATES = ("placed", "rejected", "refunded", "dead")
STATES = ACTIVE_STATES + FINAL_STATES
_STATE_LIST = ", ".join(f"'{state}'" for state in STATES)

orders = Table(
    "orders",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("consumer", String(64), nullable=False),
    Column("client_order_id", String(255), nullable=False),
    Column("account", String(36), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("side", String(4), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("fee_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("state", String(16), nullable=False),
    Column("dead_from", String(16), nullable=True),
    Column("settlement_account", String(36), nullable=True),
    Column("exchange_order_id", String(64), nullable=True),
    Column("price", String(32), nullable=True),
    Column("quantity", String(32), nullable=True),
    Column("failure", Text, nullable=True),
    Column("request_hash", String(64), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_token", String(36), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint(f"state IN ({_STATE_LIST})", name="ck_orders_state"),
    CheckConstraint(
        "amount_minor > 0 AND fee_minor >= 0 AND fee_minor < amount_minor", name="ck_orders_amounts"
    ),
    UniqueConstraint("consumer", "client_order_id", name="uq_orders_consumer_client_order_id"),
    Index("ix_orders_due", "state", "next_attempt_at"),
)

settlement_accounts = Table(
    "settlement_accounts",
    metadata,
    Column("currency", String(3), primary_key=True),
    Column("account", String(36), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

idempotency_keys = key_table(metadata)
