"""Roundup settings, purchases and sweeps.

Revision ID: 0001_roundups
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_roundups"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roundup_settings",
        sa.Column("account", sa.String(36), primary_key=True),
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("threshold_minor", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("threshold_minor > 0", name="ck_settings_threshold"),
    )
    op.create_table(
        "purchases",
        sa.Column("purchase_id", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(36), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("roundup_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("merchant", sa.String(100), nullable=False),
        sa.Column("card_last4", sa.String(4), nullable=True),
        sa.Column("card_token", sa.String(80), nullable=True),
        sa.Column("sweep_id", sa.String(36), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response_body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0 AND roundup_minor >= 0", name="ck_purchases_amounts"),
    )
    op.create_index("ix_purchases_unswept", "purchases", ["account", "currency", "sweep_id"])
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("account", sa.String(36), nullable=False),
        sa.Column("exchange", sa.String(32), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("order_status", sa.String(16), nullable=True),
        sa.Column("failure", sa.Text, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'ordered', 'rejected')", name="ck_sweeps_status"),
        sa.CheckConstraint("amount_minor > 0", name="ck_sweeps_amount"),
    )
    op.create_index("ix_sweeps_due", "sweeps", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("sweeps")
    op.drop_table("purchases")
    op.drop_table("roundup_settings")
