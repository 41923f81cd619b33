"""The adapter's tables: orders (one per client order id) and the outbox of orders still to drive.

An order and its outbox row are written in one transaction before anything leaves the process;
the relay re-drives outbox rows after a crash, and every step it repeats is idempotent (the wallet
debit by its Idempotency-Key, the exchange order by its client order id).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()
MIGRATIONS = "walletstubs.exchange:migrations"
STATUSES = ("pending", "placed", "rejected")

orders = Table(
    "orders",
    metadata,
    Column("client_order_id", String(64), primary_key=True),
    Column("account", String(36), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("side", String(4), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("fee_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("exchange_order_id", String(64), nullable=True),
    Column("price", String(32), nullable=True),
    Column("quantity", String(32), nullable=True),
    Column("failure", Text, nullable=True),
    Column("request_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("status IN ('pending', 'placed', 'rejected')", name="ck_orders_status"),
    CheckConstraint(
        "amount_minor > 0 AND fee_minor >= 0 AND fee_minor < amount_minor", name="ck_orders_amounts"
    ),
)

outbox = Table(
    "outbox",
    metadata,
    Column("client_order_id", String(64), ForeignKey("orders.client_order_id"), primary_key=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
)
