"""Purchases are unique per consumer (ids up to 255 characters); sweeps follow their order to placed
or rejected and are claimed under a lease; idempotency keys expire.

Revision ID: 0002_purchases_per_consumer
Revises: 0001_roundups
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_purchases_per_consumer"
down_revision = "0001_roundups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "purchases", sa.Column("consumer", sa.String(64), nullable=False, server_default="internal")
    )
    op.drop_constraint("purchases_pkey", "purchases", type_="primary")
    op.alter_column("purchases", "purchase_id", type_=sa.String(255), existing_nullable=False)
    op.create_primary_key("purchases_pkey", "purchases", ["consumer", "purchase_id"])
    op.add_column("sweeps", sa.Column("lease_token", sa.String(36), nullable=True))
    op.add_column("sweeps", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint("ck_sweeps_status", "sweeps", type_="check")
    op.create_check_constraint(
        "ck_sweeps_status", "sweeps", "status IN ('pending', 'ordered', 'placed', 'rejected')"
    )
    op.execute("UPDATE sweeps SET status = 'placed' WHERE status = 'ordered' AND order_status = 'placed'")
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response_body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_expires_at", "idempotency_keys")
    op.drop_table("idempotency_keys")
    op.execute("UPDATE sweeps SET status = 'ordered' WHERE status = 'placed'")
    op.drop_constraint("ck_sweeps_status", "sweeps", type_="check")
    op.create_check_constraint("ck_sweeps_status", "sweeps", "status IN ('pending', 'ordered', 'rejected')")
    op.drop_column("sweeps", "lease_until")
    op.drop_column("sweeps", "lease_token")
    op.drop_constraint("purchases_pkey", "purchases", type_="primary")
    op.alter_column("purchases", "purchase_id", type_=sa.String(64), existing_nullable=False)
    op.create_primary_key("purchases_pkey", "purchases", ["purchase_id"])
    op.drop_column("purchases", "consumer")
