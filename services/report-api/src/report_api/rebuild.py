"""Rebuild the projection from the topic, without a gap in the reports.

1. Drop and re-create the shadow schema `<schema>_rebuild`, migrated to the newest revision.
2. Project the whole topic into it (no consumer group: every partition, from the beginning,
   until the ends it had when the rebuild started).
3. Swap, in one transaction: the live schema becomes `<schema>_old`, the shadow becomes the live
   schema, the tables of the old one that the projection does not own (the engine's snapshots
   and policy registry when they share the schema, as with the defaults, both `public`) move
   into the new one, and the old one is dropped. Readers see either the old or the new
   projection; nothing else is lost.

A `serve` running meanwhile goes on: its next commit finds the stored offsets moved (the shadow's),
rolls back and re-seeks to them (`PositionConflict`), so the events after the rebuild's ends are
projected once into the new tables.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from report_api import db
from report_api.config import ApiSettings
from report_api.metrics import Metrics
from report_api.projection.runner import ProjectionRunner

log = logging.getLogger(__name__)


# The tables (partitions too) of the retired schema that the rebuilt one lacks: not the
# projection's, so they move across (with their indexes, constraints and owned sequences).
_NOT_OURS = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
AND NOT EXISTS (
    SELECT 1 FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace
    WHERE n2.nspname = $2 AND c2.relname = c.relname
)
ORDER BY c.relname
"""


@dataclass(frozen=True)
class RebuildResult:
    schema: str
    batches: int
    timers: int


def shadow_names(schema: str) -> tuple[str, str]:
    """(shadow, retired) schema names next to `schema` (within PostgreSQL's 63 bytes)."""
    shadow, retired = f"{schema[:50]}_rebuild", f"{schema[:50]}_old"
    db.quote_identifier(shadow)
    db.quote_identifier(retired)
    return shadow, retired


async def rebuild(settings: ApiSettings, *, metrics: Metrics | None = None) -> RebuildResult:
    """Rebuild the projection of `settings.database_schema` from `settings.events_topic`."""
    live = settings.database_schema
    shadow, retired = shadow_names(live)
    q_live, q_shadow, q_retired = map(db.quote_identifier, (live, shadow, retired))
    # 1
    conn = await db.connect(
        settings.database_url, schema=live, statement_timeout_ms=0, app="report-api-rebuild"
    )
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {q_shadow} CASCADE")
    finally:
        await conn.close()
    await db.migrate(
        settings.database_url,
        schema=shadow,
        archive_schema=settings.archive_schema,
        engine_schema=settings.engine_schema,
    )
    # 2
    runner = ProjectionRunner(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic=settings.events_topic,
        database_url=settings.database_url,
        schema=shadow,
        group_id=None,
        max_records=settings.projection_max_records,
        statement_timeout_ms=0,
        metrics=metrics,
    )
    batches = await runner.catch_up()
    # 3
    conn = await db.connect(
        settings.database_url, schema=shadow, statement_timeout_ms=0, app="report-api-rebuild"
    )
    try:
        timers = await conn.fetchval("SELECT count(*) FROM sla_timers")
        async with conn.transaction():
            await conn.execute(f"DROP SCHEMA IF EXISTS {q_retired} CASCADE")
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q_live}")
            await conn.execute(f"ALTER SCHEMA {q_live} RENAME TO {q_retired}")
            await conn.execute(f"ALTER SCHEMA {q_shadow} RENAME TO {q_live}")
            for table in await conn.fetch(_NOT_OURS, retired, live):
                name = db.quote_identifier(table["relname"])
                await conn.execute(f"ALTER TABLE {q_retired}.{name} SET SCHEMA {q_live}")
            await conn.execute(f"DROP SCHEMA {q_retired} CASCADE")
    finally:
        await conn.close()
    log.info("projection rebuilt", extra={"schema": live, "batches": batches, "timers": timers})
    return RebuildResult(schema=live, batches=batches, timers=int(timers))
