"""Each service's alembic migrations build on PostgreSQL exactly the schema its SQLAlchemy tables
describe (the SQLite schema comes from those tables), so the two backends cannot drift apart."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, text
from walletstubs.common.db import make_engine, prepare_schema
from walletstubs.exchange import schema as exchange_schema
from walletstubs.roundups import schema as roundups_schema
from walletstubs.wallet import schema as wallet_schema

pytestmark = [pytest.mark.service, pytest.mark.xdist_group("walletstubs")]
SCHEMAS = {"wallet": wallet_schema, "exchange": exchange_schema, "roundups": roundups_schema}


def _differences(connection: Connection, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": False}
    )
    return list(compare_metadata(context, metadata))


@pytest.mark.parametrize("service", sorted(SCHEMAS))
def test_migrations_match_the_tables(service: str, real_servers: Any) -> None:
    module = SCHEMAS[service]
    name = f"migrations_{service}_{uuid.uuid4().hex[:8]}"
    real_servers.postgres.create_database(name)

    async def main() -> tuple[list[Any], int]:
        engine = make_engine(real_servers.postgres.url(name))
        try:
            await prepare_schema(engine, module.metadata, module.MIGRATIONS)
            await prepare_schema(engine, module.metadata, module.MIGRATIONS)
            async with engine.connect() as connection:
                differences = await connection.run_sync(_differences, module.metadata)
                versions = (
                    await connection.execute(text("SELECT count(*) FROM alembic_version"))
                ).scalar_one()
            return differences, int(versions)
        finally:
            await engine.dispose()

    differences, versions = asyncio.run(main())
    assert differences == []
    assert versions == 1
