"""One-round-trip posting: ``ledger_post`` claims the idempotency key, moves the money, writes the entries,
the transfer and the answer in one statement; idempotency keys expire; the balance trigger reads the
entries once.

Revision ID: 0002_posting
Revises: 0001_ledger
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_posting"
down_revision = "0001_ledger"
branch_labels = None
depends_on = None

BALANCED = """
CREATE OR REPLACE FUNCTION ledger_transfer_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  legs int;
  total bigint;
  credit_ok boolean;
  debit_ok boolean;
BEGIN
  SELECT count(*), sum(amount_minor),
         bool_or(leg = 'credit' AND account_id = NEW.to_account AND amount_minor = NEW.amount_minor),
         bool_or(leg = 'debit' AND account_id = NEW.from_account)
    INTO legs, total, credit_ok, debit_ok
    FROM entries WHERE transfer_id = NEW.id;
  IF legs <> 2 OR total <> 0 OR NOT credit_ok OR NOT debit_ok THEN
    RAISE EXCEPTION 'ledger: a transfer needs one debit and one credit entry that sum to zero and match it'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$
"""

POST = """
CREATE FUNCTION ledger_post(
  p_scope text, p_key text, p_hash text, p_expires_at timestamptz,
  p_transfer_id text, p_kind text, p_from text, p_to text, p_amount bigint, p_currency text,
  p_description text, p_created_at timestamptz, p_answer text, p_external_source boolean)
RETURNS TABLE (
  outcome text, status_code int, response_body text, request_hash text,
  debit_kind text, debit_owner text, debit_balance bigint, debit_version bigint,
  debit_created_at timestamptz,
  credit_kind text, credit_owner text, credit_balance bigint, credit_version bigint,
  credit_created_at timestamptz)
LANGUAGE plpgsql SET lock_timeout = '5s' AS $$
DECLARE
  stored idempotency_keys%ROWTYPE;
  moved accounts%ROWTYPE;
  src accounts%ROWTYPE;
  dst accounts%ROWTYPE;
  current_id text;
BEGIN
  INSERT INTO idempotency_keys AS k
      (scope, key, request_hash, status_code, response_body, created_at, expires_at)
    VALUES (p_scope, p_key, p_hash, 201, p_answer, p_created_at, p_expires_at)
    ON CONFLICT (scope, key) DO UPDATE
      SET request_hash = EXCLUDED.request_hash, status_code = EXCLUDED.status_code,
          response_body = EXCLUDED.response_body, created_at = EXCLUDED.created_at,
          expires_at = EXCLUDED.expires_at
      WHERE k.expires_at <= now();
  IF NOT FOUND THEN
    SELECT * INTO stored FROM idempotency_keys WHERE scope = p_scope AND key = p_key;
    RETURN QUERY SELECT 'replayed'::text, stored.status_code, stored.response_body, stored.request_hash::text,
      NULL::text, NULL::text, NULL::bigint, NULL::bigint, NULL::timestamptz,
      NULL::text, NULL::text, NULL::bigint, NULL::bigint, NULL::timestamptz;
    RETURN;
  END IF;
  -- Lock (by updating) both accounts in id order, so concurrent postings never deadlock.
  FOREACH current_id IN ARRAY ARRAY[least(p_from, p_to), greatest(p_from, p_to)] LOOP
    UPDATE accounts
       SET balance_minor = balance_minor + CASE WHEN id = p_from THEN -p_amount ELSE p_amount END,
           version = version + 1
     WHERE id = current_id
       AND currency = p_currency
       AND CASE WHEN id = p_from
                THEN (kind = 'customer' AND balance_minor >= p_amount)
                     OR (kind = 'external' AND p_external_source)
                ELSE kind = 'customer' END
    RETURNING * INTO moved;
    IF moved.id IS NULL THEN
      SELECT * INTO moved FROM accounts WHERE id = current_id;
      IF moved.id IS NULL OR (current_id = p_from AND moved.kind = 'external' AND NOT p_external_source)
         OR (current_id = p_to AND moved.kind <> 'customer') THEN
        RAISE EXCEPTION USING ERRCODE = 'WL001', MESSAGE = 'unknown-account',
          DETAIL = CASE WHEN current_id = p_from THEN 'debit' ELSE 'credit' END;
      END IF;
      IF moved.currency <> p_currency THEN
        RAISE EXCEPTION USING ERRCODE = 'WL001', MESSAGE = 'currency-mismatch',
          DETAIL = CASE WHEN current_id = p_from THEN 'debit' ELSE 'credit' END, HINT = moved.currency;
      END IF;
      RAISE EXCEPTION USING ERRCODE = 'WL001', MESSAGE = 'insufficient-funds', DETAIL = 'debit';
    END IF;
    IF moved.id = p_from THEN src := moved; ELSE dst := moved; END IF;
  END LOOP;
  INSERT INTO entries (transfer_id, account_id, leg, amount_minor)
    VALUES (p_transfer_id, p_from, 'debit', -p_amount), (p_transfer_id, p_to, 'credit', p_amount);
  INSERT INTO transfers (id, kind, from_account, to_account, amount_minor, currency, description, created_at)
    VALUES (p_transfer_id, p_kind, p_from, p_to, p_amount, p_currency, p_description, p_created_at);
  RETURN QUERY SELECT 'posted'::text, 201, p_answer, p_hash,
    src.kind::text, src.owner::text, src.balance_minor, src.version, src.created_at,
    dst.kind::text, dst.owner::text, dst.balance_minor, dst.version, dst.created_at;
END $$
"""


def upgrade() -> None:
    op.alter_column("idempotency_keys", "scope", type_=sa.String(128), existing_nullable=False)
    op.add_column("idempotency_keys", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE idempotency_keys SET expires_at = created_at + interval '24 hours'")
    op.alter_column("idempotency_keys", "expires_at", nullable=False)
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])
    op.execute(BALANCED)
    op.execute(POST)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS ledger_post(text, text, text, timestamptz, text, text, text, text, bigint, "
        "text, text, timestamptz, text, boolean)"
    )
    op.drop_index("ix_idempotency_keys_expires_at", "idempotency_keys")
    op.drop_column("idempotency_keys", "expires_at")
    op.alter_column("idempotency_keys", "scope", type_=sa.String(64), existing_nullable=False)
