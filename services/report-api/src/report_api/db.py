"""PostgreSQL at the edge: connection URLs, the API's pool, the projection's connections and
the Alembic upgrade.

The runtime talks to PostgreSQL through asyncpg directly (the hot paths need COPY, server-side
streaming and array parameters); SQLAlchemy is only Alembic's vehicle for migrations.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import asyncpg

from sla_edge.database_url import plain_url, sqlalchemy_url

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def quote_identifier(name: str) -> str:
    """A plain lower-case identifier, double-quoted; anything else is refused (no injection)."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


def server_settings(*, schema: str, statement_timeout_ms: int, app: str) -> dict[str, str]:
    """Session settings of every connection: the schema, UTC and the statement timeout.

    The session zone is UTC so that no expression depends on a server default; report queries
    that need a local zone set it per transaction."""
    return {
        "search_path": schema,
        "TimeZone": "UTC",
        "statement_timeout": str(statement_timeout_ms),
        "application_name": app,
    }


async def create_pool(
    url: str, *, schema: str, statement_timeout_ms: int, min_size: int = 1, max_size: int = 10
) -> asyncpg.Pool:
    """The API's pool; every connection has `statement_timeout`, so no query hangs."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        plain_url(url),
        min_size=min_size,
        max_size=max_size,
        server_settings=server_settings(
            schema=schema, statement_timeout_ms=statement_timeout_ms, app="report-api"
        ),
    )
    return pool


async def connect(
    url: str, *, schema: str, statement_timeout_ms: int, app: str = "report-api-projection"
) -> asyncpg.Connection:
    """A single connection, for the projection (which owns it) and the commands."""
    conn: asyncpg.Connection = await asyncpg.connect(
        plain_url(url),
        server_settings=server_settings(
            schema=schema, statement_timeout_ms=statement_timeout_ms, app=app
        ),
    )
    return conn


def _alembic_config(
    schema: str, connection: Any, *, archive_schema: str, engine_schema: str
) -> Any:
    from alembic.config import Config

    ini = resources.files("report_api") / "alembic.ini"
    config = Config(str(ini))
    config.set_main_option("script_location", str(resources.files("report_api") / "migrations"))
    config.attributes["schema"] = schema
    config.attributes["archive_schema"] = archive_schema
    config.attributes["engine_schema"] = engine_schema
    config.attributes["connection"] = connection
    return config


async def migrate(
    url: str,
    *,
    schema: str = "public",
    archive_schema: str = "sla_archive",
    engine_schema: str = "public",
) -> None:
    """Upgrade `schema` of the database to the newest revision (Alembic, async engine); the
    history revision also creates the archive in `archive_schema` and the engine's policy
    registry in `engine_schema` when they are missing."""
    from alembic import command
    from sqlalchemy import pool
    from sqlalchemy.ext.asyncio import create_async_engine

    for name in (schema, archive_schema, engine_schema):
        quote_identifier(name)
    engine = create_async_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(
                lambda sync: command.upgrade(
                    _alembic_config(
                        schema, sync, archive_schema=archive_schema, engine_schema=engine_schema
                    ),
                    "head",
                )
            )
    finally:
        await engine.dispose()
