"""Alembic environment of the roundups service (run through walletstubs.common.db.prepare_schema)."""

from walletstubs.common.db import run_alembic_env

run_alembic_env()
