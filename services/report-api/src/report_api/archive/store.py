"""The archive's PostgreSQL side: a batch of ticket event records and its offsets, in one
transaction, at COPY speed.

Tables (migration 0003_history, in the archive's own schema): `ticket_events`, partitioned by
event-time month (created here on demand) with a DEFAULT partition for records that do not decode
or whose time lies outside [2000, 2100); `ticket_event_ids`, the first (source, id) seen, which
makes the archive idempotent across partitions (a unique index of a partitioned table must hold
the partition key, and a re-sent event may carry another time: the first one archived wins);
`archive_offsets`, the consumer's next offset per partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol

import asyncpg

from report_api.projection.store import Partition, lock_positions
from sla_core.codec import DecodeError, decode_identity

# Serialises partition creation between replicas (CREATE ... IF NOT EXISTS still races).
PARTITION_LOCK_KEY = 0x534C_4141_5243  # "SLAARC"
FIRST_MONTH = date(2000, 1, 1)
END_MONTH = date(2100, 1, 1)  # times from here on, and before FIRST_MONTH, go to DEFAULT

STAGING_COLUMNS = (
    "first",
    "time",
    "source",
    "id",
    "type",
    "ticket_id",
    "topic",
    "partition",
    "offset",
    "timestamp_ms",
    "key",
    "value",
    "header_keys",
    "header_values",
    "error",
)
_ARCHIVED = ", ".join(f'"{c}"' for c in STAGING_COLUMNS[1:])
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS archive_staging (
    first         boolean NOT NULL,
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
    error         text
) ON COMMIT DELETE ROWS"""
# One statement: claim the batch's new (source, id)s, then archive the records that won a claim
# and every record that did not decode (they have no identity; their offsets guard them).
_INSERT = (
    "WITH fresh AS ("
    "INSERT INTO ticket_event_ids (source, id, time) "
    "SELECT source, id, time FROM archive_staging WHERE first "
    "ON CONFLICT DO NOTHING RETURNING source, id) "
    f"INSERT INTO ticket_events ({_ARCHIVED}) "
    f"SELECT {', '.join('s.' + c for c in _ARCHIVED.split(', '))} FROM archive_staging s "
    "WHERE s.source IS NULL "
    "OR (s.first AND EXISTS (SELECT 1 FROM fresh f WHERE f.source = s.source AND f.id = s.id))"
)


class Record(Protocol):
    """The part of aiokafka's ConsumerRecord the archive keeps."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class ArchiveResult:
    archived: int  # rows written (undecodable ones included)
    duplicates: int  # records whose (source, id) was archived before or earlier in the batch
    undecodable: int


def staging_rows(records: Iterable[Record]) -> list[tuple[Any, ...]]:
    """The staging row of each record (STAGING_COLUMNS): as received, plus what the codec
    parses from it. `first` marks the first record of each (source, id) within the batch."""
    seen: set[tuple[str, str]] = set()
    rows = []
    for r in records:
        headers = list(r.headers or ())
        try:
            time, source, event_id, type_, ticket_id = decode_identity(r.value, headers)
        except DecodeError as exc:
            parsed: tuple[Any, ...] = (False, None, None, None, None, None)
            error: str | None = exc.reason
        else:
            identity = (source, event_id)
            first = identity not in seen
            seen.add(identity)
            parsed = (first, time, source, event_id, type_, ticket_id)
            error = None
        rows.append(
            (
                *parsed,
                r.topic,
                r.partition,
                r.offset,
                r.timestamp,
                r.key,
                r.value,
                [k for k, _ in headers],
                [v for _, v in headers],
                error,
            )
        )
    return rows


def month_of(time: datetime | None) -> date | None:
    """The first day (UTC) of the monthly partition that holds `time`; None: DEFAULT."""
    if time is None:
        return None
    day = time.astimezone(UTC).date().replace(day=1)
    return day if FIRST_MONTH <= day < END_MONTH else None


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def partition_ddl(month: date) -> str:
    """CREATE TABLE of the partition of `month` (a first of the month, from `month_of`)."""
    return (
        f"CREATE TABLE IF NOT EXISTS ticket_events_{month:%Y_%m} PARTITION OF ticket_events "
        f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') "
        f"TO ('{_next_month(month).isoformat()} 00:00:00+00')"
    )


async def ensure_partitions(
    conn: asyncpg.Connection, rows: Sequence[Sequence[Any]], known: set[date]
) -> None:
    """Create the monthly partitions `rows` need that `known` does not hold, then remember them.

    Its own short transaction, before the batch's: creating a partition locks the parent, and
    the DEFAULT partition never holds an in-range time (so no row has to move)."""
    months = {month_of(row[1]) for row in rows} - known - {None}
    if not months:
        return
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PARTITION_LOCK_KEY)
        for month in sorted(m for m in months if m is not None):
            await conn.execute(partition_ddl(month))
    known.update(m for m in months if m is not None)


async def commit_archive_batch(
    conn: asyncpg.Connection,
    rows: Sequence[tuple[Any, ...]],
    next_offsets: Mapping[Partition, int],
    expected: Mapping[Partition, int | None],
) -> ArchiveResult:
    """Archive `rows` (from `staging_rows`, partitions from `ensure_partitions`) and store
    `next_offsets`, atomically.

    1. Begin; lock the batch's partitions in `archive_offsets` (FOR UPDATE) and check each still
       holds `expected` (None: no row). A mismatch raises PositionConflict; nothing is written.
    2. The common case, at COPY speed: in a savepoint, COPY the batch's new (source, id)s (the
       first of each within the batch) into `ticket_event_ids`, then COPY those records and the
       undecodable ones into `ticket_events`. A (source, id) archived by an earlier batch makes
       the first COPY fail on the primary key; the savepoint is rolled back and step 3 runs.
    3. Otherwise: COPY the rows into the session's staging table (emptied at commit), and one
       INSERT ... SELECT claims the new (source, id)s (ON CONFLICT DO NOTHING) and archives the
       records that won a claim, and the undecodable ones.
    4. Upsert the partitions' next offsets.
    5. Commit. A failure before this rolls everything back; the consumer re-seeks to the stored
       offsets and archives the same records again, once.
    """
    partitions = list(next_offsets)
    async with conn.transaction():
        # 1
        await lock_positions(conn, partitions, expected, table="archive_offsets")
        # 2
        try:
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "ticket_event_ids",
                    records=[(row[2], row[3], row[1]) for row in rows if row[0]],
                    columns=["source", "id", "time"],
                )
                kept = [row[1:] for row in rows if row[0] or row[2] is None]
                await conn.copy_records_to_table(
                    "ticket_events", records=kept, columns=list(STAGING_COLUMNS[1:])
                )
                archived = len(kept)
        except asyncpg.UniqueViolationError:
            # 3
            await conn.execute(_STAGING)
            await conn.copy_records_to_table(
                "archive_staging", records=rows, columns=list(STAGING_COLUMNS)
            )
            status = await conn.execute(_INSERT)
            archived = int(status.rsplit(" ", 1)[-1])
        # 4
        await conn.execute(
            "INSERT INTO archive_offsets (topic, partition, next_offset) "
            "SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[]) "
            "ON CONFLICT (topic, partition) DO UPDATE "
            "SET next_offset = excluded.next_offset, updated_at = now()",
            [p.topic for p in partitions],
            [p.partition for p in partitions],
            [next_offsets[p] for p in partitions],
        )
    # 5: leaving the block committed the transaction.
    undecodable = sum(1 for row in rows if row[2] is None)
    return ArchiveResult(archived, len(rows) - archived, undecodable)
