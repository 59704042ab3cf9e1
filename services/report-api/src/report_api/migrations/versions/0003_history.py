"""The history: the ticket event archive (its own schema) and the engine's policy registry.

Revision ID: 0003_history
Revises: 0001
Create Date: 2026-11-24

The archive lives in a schema of its own (SLA_ARCHIVE_SCHEMA, default `sla_archive`), not in the
projection's: a rebuild swaps the projection schema and drops the old one, and the history must
survive that. Everything here is `IF NOT EXISTS`, because the shadow schema of a rebuild runs this
revision again and finds the archive already there.

`policy_versions` belongs to the engine (sla_engine/adapters/policy_registry.py writes it, with
the same DDL) and lives in the engine's schema (SLA_ENGINE_SCHEMA, default `public`, where the
engine's other tables are); creating it here lets the API answer before the engine ever ran.

The monthly partitions of `ticket_events` are created on demand by the archive consumer
(`archive/store.py`); this revision creates the parent, its default partition (events that do not
decode, or whose time is outside the monthly range), the (source, id) dedup table and the
consumer's offsets.
"""

from __future__ import annotations

import os

from alembic import context, op

from report_api.db import quote_identifier

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Identical to sla_engine.adapters.policy_registry.TABLE (a unit test holds them together).
POLICY_VERSIONS = """
CREATE TABLE IF NOT EXISTS {schema}policy_versions (
    version         text PRIMARY KEY,
    content         text NOT NULL,
    content_sha256  text NOT NULL,
    first_loaded_at timestamptz NOT NULL DEFAULT now(),
    source          text NOT NULL
)"""

ARCHIVE = [
    "CREATE SCHEMA IF NOT EXISTS {s}",
    # One row per record as received (key, value and headers byte for byte, where it was read),
    # with what the codec parsed from it; the parsed columns are NULL when it does not decode.
    """
CREATE TABLE IF NOT EXISTS {s}.ticket_events (
    time          timestamptz,
    source        text,
    id            text,
    type          text,
    ticket_id     text,
    topic         text NOT NULL,
    partition     integer NOT NULL,
    "offset"      bigint NOT NULL,
    timestamp_ms  bigint,
    key           bytea,
    value         bytea,
    header_keys   text[] NOT NULL,
    header_values bytea[] NOT NULL,
    error         text,
    archived_at   timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (time)""",
    "CREATE TABLE IF NOT EXISTS {s}.ticket_events_default PARTITION OF {s}.ticket_events DEFAULT",
    # The what-if reads a time range in (time, partition, offset) order.
    "CREATE INDEX IF NOT EXISTS ticket_events_order "
    '  ON {s}.ticket_events (time, partition, "offset")',
    # Idempotency by (source, id) across partitions: a unique index of a partitioned table must
    # hold the partition key, and a re-sent event may carry another time. So the first (source,
    # id) wins here, with the time it was archived under, and the batch inserts only winners.
    """
CREATE TABLE IF NOT EXISTS {s}.ticket_event_ids (
    source text NOT NULL,
    id     text NOT NULL,
    time   timestamptz NOT NULL,
    PRIMARY KEY (source, id)
)""",
    """
CREATE TABLE IF NOT EXISTS {s}.archive_offsets (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
)""",
]


def _schema(attribute: str, variable: str, default: str) -> str:
    """A schema named by the caller (db.migrate) or the environment (the alembic CLI)."""
    name = context.config.attributes.get(attribute) or os.environ.get(variable, default)
    return quote_identifier(name)


def upgrade() -> None:
    archive = _schema("archive_schema", "SLA_ARCHIVE_SCHEMA", "sla_archive")
    engine = _schema("engine_schema", "SLA_ENGINE_SCHEMA", "public")
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {engine}")
    op.execute(POLICY_VERSIONS.format(schema=engine + "."))
    for statement in ARCHIVE:
        op.execute(statement.format(s=archive))


def downgrade() -> None:
    # The history is not the projection's to drop: a downgrade leaves the archive and the
    # engine's registry where they are.
    pass
