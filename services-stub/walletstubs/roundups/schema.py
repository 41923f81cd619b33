"""Roundup settings per account, the purchases (card reference masked: last four digits or a token),
the sweeps, and idempotency keys.

A purchase is unique per consumer and ``purchase_id`` and keeps the answer it was first given. A sweep
is this service's outbox, claimed by the relay under a lease: ``pending`` until the exchange adapter
has its order, ``ordered`` while that order is in flight, then ``placed`` or ``rejected`` as the order
ends (a rejected sweep returns its purchases to the pending pool).
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
)

from walletstubs.common.idempotency import key_table

metadata = MetaData()
MIGRATIONS = "walletstubs.roundups:migrations"

settings = Table(
    "roundup_settings",
    metadata,
    Column("account", String(36), primary_key=True),
    Column("exchange", String(32), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("threshold_minor", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("threshold_minor > 0", name="ck_settings_threshold"),
)

purchases = Table(
    "purchases",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("purchase_id", String(255), primary_key=True),
    Column("account", String(36), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("roundup_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("merchant", String(100), nullable=False),
    Column("card_last4", String(4), nullable=True),
    Column("card_token", String(80), nullable=True),
    Column("sweep_id", String(36), nullable=True),
    Column("request_hash", String(64), nullable=False),
    Column("response_body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("amount_minor > 0 AND roundup_minor >= 0", name="ck_purchases_amounts"),
    Index("ix_purchases_unswept", "account", "currency", "sweep_id"),
)

sweeps = Table(
    "sweeps",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account", String(36), nullable=False),
    Column("exchange", String(32), nullable=False),
    Column("symbol", String(16), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(16), nullable=False),
    Column("order_status", String(16), nullable=True),
    Column("failure", Text, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("lease_token", String(36), nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    CheckConstraint("status IN ('pending', 'ordered', 'placed', 'rejected')", name="ck_sweeps_status"),
    CheckConstraint("amount_minor > 0", name="ck_sweeps_amount"),
    Index("ix_sweeps_due", "status", "next_attempt_at"),
)

idempotency_keys = key_table(metadata)
