"""The ledger's database bootstrap: one IAM-authenticated role and one schema per service.

RDS grants ``rds-db:connect`` to a service's IAM role, but PostgreSQL still needs the login role,
``GRANT rds_iam`` (which makes the role accept IAM tokens and nothing else) and a place for its
tables. Each service gets a role named after it, owning a schema of the same name that is its
``search_path`` (its migrations and alembic version table live there), with ``CONNECT`` on the
ledger database and nothing on any other service's schema or on ``public``.

This file is also the program the bootstrap runs: the Pulumi program mounts it from a ConfigMap
into a Kubernetes Job (ECS: a one-off task) that runs it with the wallet image's Python and
asyncpg, logging in as the RDS master user from its Secrets Manager secret (written to a
memory volume by an init container). It imports only the standard library at module level, so the
image needs nothing of the toolkit. Every statement is idempotent; it runs on every change.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def _quoted(name: str) -> str:
    if not IDENTIFIER.match(name):
        raise ValueError(f"{name!r} is not a plain PostgreSQL identifier (a-z, 0-9, _; starts with a letter)")
    return f'"{name}"'


def bootstrap_statements(roles: list[str], database: str) -> list[str]:
    """SQL that creates (or re-asserts) each service role with least privilege; pure and idempotent."""
    db = _quoted(database)
    statements = [
        f"REVOKE ALL ON DATABASE {db} FROM PUBLIC",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
    ]
    for role in roles:
        name = _quoted(role)
        statements += [
            "DO $$ BEGIN "
            f"IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN CREATE ROLE {name} LOGIN; "
            "END IF; END $$",
            f"ALTER ROLE {name} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS LOGIN",
            f"GRANT rds_iam TO {name}",
            f"GRANT CONNECT, TEMPORARY ON DATABASE {db} TO {name}",
            f"CREATE SCHEMA IF NOT EXISTS {name} AUTHORIZATION {name}",
            f"REVOKE ALL ON SCHEMA {name} FROM PUBLIC",
            f"ALTER ROLE {name} IN DATABASE {db} SET search_path = {name}",
        ]
    return statements


async def run(
    host: str, port: int, database: str, roles: list[str], *, master: dict[str, str], ssl: str
) -> None:
    """Apply :func:`bootstrap_statements` in one transaction as the master user."""
    import asyncpg  # in the image that runs this file, not needed to plan

    connection = await asyncpg.connect(
        host=host,
        port=port,
        user=master["username"],
        password=master["password"],
        database=database,
        ssl=ssl,
        timeout=30,
    )
    try:
        async with connection.transaction():
            for statement in bootstrap_statements(roles, database):
                await connection.execute(statement)
    finally:
        await connection.close()


def main() -> int:
    """Entry point of the bootstrap container; configuration from its environment."""
    try:
        with open(os.environ["MASTER_SECRET_FILE"], encoding="utf-8") as handle:
            master = json.load(handle)
        roles = json.loads(os.environ["BOOTSTRAP_ROLES"])
        asyncio.run(
            run(
                host=os.environ["DATABASE_HOST"],
                port=int(os.environ.get("DATABASE_PORT", "5432")),
                database=os.environ["DATABASE_NAME"],
                roles=roles,
                master=master,
                ssl=os.environ.get("DATABASE_SSL", "require"),
            )
        )
    except (KeyError, ValueError, OSError) as exc:
        print(f"db bootstrap failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"db bootstrap: roles {', '.join(roles)} ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
