"""Orders and their outbox.

Revision ID: 0001_orders_outbox
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_orders_outbox"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("client_order_id", sa.String(64), primary_key=True),
        sa.Column("account", sa.String(36), nullable=False),
        sa.Column("symbol", sa.String(16), nullable=False),
        sa.Column("side", sa.String(4), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("fee_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("exchange_order_id", sa.String(64), nullable=True),
        sa.Column("price", sa.String(32), nullable=True),
        sa.Column("quantity", sa.String(32), nullable=True),
        sa.Column("failure", sa.Text, nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'placed', 'rejected')", name="ck_orders_status"),
        sa.CheckConstraint(
            "amount_minor > 0 AND fee_minor >= 0 AND fee_minor < amount_minor", name="ck_orders_amounts"
        ),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "client_order_id", sa.String(64), sa.ForeignKey("orders.client_order_id"), primary_key=True
        ),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("orders")
