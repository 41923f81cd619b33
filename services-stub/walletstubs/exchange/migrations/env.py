"""Alembic environment of the exchange adapter (run through walletstubs.common.db.prepare_schema)."""

from walletstubs.common.db import run_alembic_env

run_alembic_env()
