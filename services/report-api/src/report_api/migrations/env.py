"""Alembic environment (async). Two ways in:

- programmatic (`report_api.db.migrate`): the caller passes a SQLAlchemy sync-facade connection in
  `config.attributes["connection"]` and the target schema in `config.attributes["schema"]`;
- the alembic CLI (`alembic -c alembic.ini upgrade head`): the URL comes from SLA_DATABASE_URL and
  the schema from SLA_DATABASE_SCHEMA.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from report_api.db import quote_identifier
from sla_edge.database_url import sqlalchemy_url

config = context.config


def _run(connection: Connection, schema: str) -> None:
    connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
    connection.exec_driver_sql(f"SET search_path TO {quote_identifier(schema)}")
    context.configure(connection=connection, target_metadata=None, version_table_schema=schema)
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url(url: str, schema: str) -> None:
    engine = create_async_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run, schema)
    finally:
        await engine.dispose()


def main() -> None:
    schema = config.attributes.get("schema") or os.environ.get("SLA_DATABASE_SCHEMA", "public")
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection, schema)
        return
    url = os.environ.get("SLA_DATABASE_URL", "postgresql://postgres@127.0.0.1:5433/sla")
    asyncio.run(_run_from_url(url, schema))


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
main()
