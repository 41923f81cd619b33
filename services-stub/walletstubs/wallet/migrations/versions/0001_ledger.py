"""The double-entry ledger: accounts, transfers, entries, idempotency keys, and the integrity triggers.

Revision ID: 0001_ledger
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_ledger"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False, server_default="customer"),
        sa.Column("balance_minor", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('customer', 'external')", name="ck_accounts_kind"),
        sa.CheckConstraint("kind = 'external' OR balance_minor >= 0", name="ck_accounts_no_negative_balance"),
    )
    op.create_table(
        "transfers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_account", sa.String(36), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("to_account", sa.String(36), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("description", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('topup', 'transfer')", name="ck_transfers_kind"),
        sa.CheckConstraint("amount_minor > 0", name="ck_transfers_positive"),
        sa.CheckConstraint("from_account <> to_account", name="ck_transfers_distinct_accounts"),
    )
    op.create_table(
        "entries",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "transfer_id",
            sa.String(36),
            sa.ForeignKey("transfers.id", deferrable=True, initially="DEFERRED"),
            nullable=False,
        ),
        sa.Column("account_id", sa.String(36), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("leg", sa.String(6), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.CheckConstraint(
            "(leg = 'debit' AND amount_minor < 0) OR (leg = 'credit' AND amount_minor > 0)",
            name="ck_entries_leg_sign",
        ),
        sa.UniqueConstraint("transfer_id", "leg", name="uq_entries_transfer_leg"),
    )
    op.create_index("ix_entries_account", "entries", ["account_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response_body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
    )
    op.execute(
        """
        CREATE FUNCTION ledger_transfer_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF (SELECT COUNT(*) FROM entries WHERE transfer_id = NEW.id) <> 2
             OR (SELECT SUM(amount_minor) FROM entries WHERE transfer_id = NEW.id) <> 0
             OR NOT EXISTS (SELECT 1 FROM entries WHERE transfer_id = NEW.id AND leg = 'credit'
                            AND account_id = NEW.to_account AND amount_minor = NEW.amount_minor)
             OR NOT EXISTS (SELECT 1 FROM entries WHERE transfer_id = NEW.id AND leg = 'debit'
                            AND account_id = NEW.from_account) THEN
            RAISE EXCEPTION 'ledger: a transfer needs one debit and one credit entry that sum to zero '
              'and match it' USING ERRCODE = 'integrity_constraint_violation';
          END IF;
          RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER trg_transfers_balanced BEFORE INSERT ON transfers "
        "FOR EACH ROW EXECUTE FUNCTION ledger_transfer_balanced()"
    )
    op.execute(
        """
        CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'ledger: % are append-only', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
        END $$
        """
    )
    for table in ("entries", "transfers"):
        op.execute(
            f"CREATE TRIGGER trg_{table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
        )


def downgrade() -> None:
    for table in ("idempotency_keys", "entries", "transfers", "accounts"):
        op.drop_table(table)
    op.execute("DROP FUNCTION IF EXISTS ledger_append_only()")
    op.execute("DROP FUNCTION IF EXISTS ledger_transfer_balanced()")
