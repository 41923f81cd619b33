"""Orders become saga rows: the step to run next, a lease, attempts; the outbox goes; client order ids
are scoped per consumer; settlement accounts are remembered; idempotency keys expire.

Revision ID: 0002_saga
Revises: 0001_orders_outbox
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_saga"
down_revision = "0001_orders_outbox"
branch_labels = None
depends_on = None

STATES = "'debiting', 'placing', 'compensating', 'placed', 'rejected', 'refunded', 'dead'"


def upgrade() -> None:
    for column in (
        sa.Column("id", sa.String(64), nullable=True),
        sa.Column("consumer", sa.String(64), nullable=False, server_default="internal"),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("dead_from", sa.String(16), nullable=True),
        sa.Column("settlement_account", sa.String(36), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_token", sa.String(36), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
    ):
        op.add_column("orders", column)
    # Orders placed before this revision keep their client order id as the exchange's id; a pending one
    # restarts at its debit, which the wallet replays by its key if it had been booked.
    op.execute(
        """
        UPDATE orders SET id = client_order_id,
          state = CASE status WHEN 'placed' THEN 'placed' WHEN 'rejected' THEN 'rejected'
                  ELSE 'debiting' END,
          attempts = COALESCE(
            (SELECT o.attempts FROM outbox o WHERE o.client_order_id = orders.client_order_id), 0),
          last_error = (SELECT o.last_error FROM outbox o WHERE o.client_order_id = orders.client_order_id),
          next_attempt_at = COALESCE(
            (SELECT o.next_attempt_at FROM outbox o WHERE o.client_order_id = orders.client_order_id), now())
        """
    )
    op.drop_table("outbox")
    op.drop_constraint("orders_pkey", "orders", type_="primary")
    op.drop_constraint("ck_orders_status", "orders", type_="check")
    op.drop_column("orders", "status")
    op.alter_column("orders", "id", nullable=False)
    op.alter_column("orders", "state", nullable=False)
    op.alter_column("orders", "next_attempt_at", nullable=False)
    op.alter_column("orders", "client_order_id", type_=sa.String(255), existing_nullable=False)
    op.create_primary_key("orders_pkey", "orders", ["id"])
    op.create_unique_constraint(
        "uq_orders_consumer_client_order_id", "orders", ["consumer", "client_order_id"]
    )
    op.create_check_constraint("ck_orders_state", "orders", f"state IN ({STATES})")
    op.create_index("ix_orders_due", "orders", ["state", "next_attempt_at"])
    op.create_table(
        "settlement_accounts",
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("account", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
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
    op.drop_table("settlement_accounts")
    op.add_column("orders", sa.Column("status", sa.String(16), nullable=True))
    op.execute(
        "UPDATE orders SET status = CASE WHEN state = 'placed' THEN 'placed' "
        "WHEN state IN ('rejected', 'refunded') THEN 'rejected' ELSE 'pending' END"
    )
    op.create_table(
        "outbox",
        sa.Column("client_order_id", sa.String(64), primary_key=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.execute(
        "INSERT INTO outbox (client_order_id, attempts, next_attempt_at, last_error) "
        "SELECT id, attempts, next_attempt_at, last_error FROM orders WHERE status = 'pending'"
    )
    op.drop_index("ix_orders_due", "orders")
    op.drop_constraint("ck_orders_state", "orders", type_="check")
    op.drop_constraint("uq_orders_consumer_client_order_id", "orders", type_="unique")
    op.drop_constraint("orders_pkey", "orders", type_="primary")
    op.execute("UPDATE orders SET client_order_id = id")
    op.alter_column("orders", "client_order_id", type_=sa.String(64), existing_nullable=False)
    op.create_primary_key("orders_pkey", "orders", ["client_order_id"])
    op.create_foreign_key(None, "outbox", "orders", ["client_order_id"], ["client_order_id"])
    op.alter_column("orders", "status", nullable=False)
    op.create_check_constraint("ck_orders_status", "orders", "status IN ('pending', 'placed', 'rejected')")
    for column in (
        "id",
        "consumer",
        "state",
        "dead_from",
        "settlement_account",
        "attempts",
        "next_attempt_at",
        "lease_token",
        "lease_until",
        "last_error",
    ):
        op.drop_column("orders", column)
