"""The projection's PostgreSQL side: one batch of events and its offsets, in one transaction.

Idempotency has two layers. The offsets of the consumed records are committed in the same
transaction as the rows they produced (`projection_offsets`), so after a crash the consumer
resumes exactly after the last committed batch. And every timer row keeps the 64-bit digests of
the events applied to it (`event_keys`), so an event the engine re-emits with the same id (or a
replay that overlaps a swap) changes nothing. Per-timer digests instead of a table of processed
ids: nothing grows apart from the timers, and the check needs the row the batch reads anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from report_api.projection.handlers import (
    COLUMNS,
    SEGMENT_COLUMNS,
    BatchResult,
    SegmentRow,
    TimerRow,
    fold_batch,
)
from report_api.projection.rollup_deltas import write_rollup_changes
from sla_core.events import SlaEvent

_TYPES = {
    "cycle": "int4",
    "target_seconds": "float8",
    "elapsed_seconds": "float8",
    "remaining_seconds": "float8",
    "started_at": "timestamptz",
    "due_at": "timestamptz",
    "stopped_at": "timestamptz",
    "last_event_at": "timestamptz",
    "last_emitted_at": "timestamptz",
    "breached": "bool",
    "paused": "bool",
    "corrected": "bool",
    "event_keys": "text",  # '{1,2}' literals: unnest cannot carry an array per row
}


def _array_type(column: str) -> str:
    return _TYPES.get(column, "text") + "[]"


_SELECT_TIMERS = (
    f"SELECT {', '.join(COLUMNS)} FROM sla_timers "
    "WHERE timer_id = ANY($1::text[]) OR ticket_id = ANY($2::text[])"
)
_UPSERT_TIMERS = (
    f"INSERT INTO sla_timers ({', '.join(COLUMNS)}) "
    f"SELECT {', '.join(c if c != 'event_keys' else 'event_keys::bigint[]' for c in COLUMNS)} "
    "FROM unnest("
    + ", ".join(f"${i}::{_array_type(c)}" for i, c in enumerate(COLUMNS, 1))
    + f") AS u({', '.join(COLUMNS)}) "
    "ON CONFLICT (timer_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "timer_id")
)

_SEGMENT_TYPES = {
    "n": "int4",
    "started_at": "timestamptz",
    "ended_at": "timestamptz",
    "business_seconds": "float8",
}
_DELETE_SEGMENTS = "DELETE FROM sla_segments WHERE timer_id = ANY($1::text[])"
_INSERT_SEGMENTS = (
    f"INSERT INTO sla_segments ({', '.join(SEGMENT_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(
        f"${i}::{_SEGMENT_TYPES.get(c, 'text')}[]" for i, c in enumerate(SEGMENT_COLUMNS, 1)
    )
    + ")"
)


class PositionConflict(RuntimeError):
    """The stored offsets are not where this consumer believed: another consumer (a zombie after a
    rebalance) or a rebuild moved them. The batch is rolled back; the consumer must re-seek."""


@dataclass(frozen=True)
class Partition:
    topic: str
    partition: int


def _row(record: asyncpg.Record) -> TimerRow:
    values = list(record)  # _SELECT_TIMERS reads COLUMNS in order
    values[-1] = tuple(values[-1])  # event_keys
    return TimerRow._make(values)


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[tuple[Any, ...]]:
    """Rows as `width` columns (array parameters of an unnest)."""
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]


def _timer_values(row: TimerRow) -> tuple[Any, ...]:
    # event_keys, the last of COLUMNS, travels as an array literal (see _TYPES)
    return (*row[:-1], "{" + ",".join(map(str, row.event_keys)) + "}")


async def write_segments(
    conn: asyncpg.Connection, segments: Mapping[str, Sequence[SegmentRow]]
) -> None:
    """Replace the stored segments of each timer in `segments` (two statements)."""
    await conn.execute(_DELETE_SEGMENTS, sorted(segments))
    rows = [row for timer_rows in segments.values() for row in timer_rows]
    if rows:
        await conn.execute(_INSERT_SEGMENTS, *_columns(rows, len(SEGMENT_COLUMNS)))


async def read_offsets(
    conn: asyncpg.Connection,
    partitions: Iterable[Partition],
    *,
    table: Literal["projection_offsets", "archive_offsets"] = "projection_offsets",
) -> dict[Partition, int]:
    """The stored next offset of each partition that has one, in `table` (the projection's,
    or the archive's)."""
    wanted = list(partitions)
    rows = await conn.fetch(
        f"SELECT topic, partition, next_offset FROM {table} "
        "WHERE (topic, partition) IN (SELECT * FROM unnest($1::text[], $2::int[]))",
        [p.topic for p in wanted],
        [p.partition for p in wanted],
    )
    return {Partition(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def lock_positions(
    conn: asyncpg.Connection,
    partitions: list[Partition],
    expected: Mapping[Partition, int | None],
    *,
    table: Literal["projection_offsets", "archive_offsets"],
) -> None:
    """Lock the partitions' stored positions in `table` for this transaction and check them
    against what the consumer expects; PositionConflict (a repeated or skipped position, another
    writer) fails the batch loudly."""
    locked = await conn.fetch(
        f"SELECT topic, partition, next_offset FROM {table} "
        "WHERE (topic, partition) IN (SELECT * FROM unnest($1::text[], $2::int[])) "
        "ORDER BY topic, partition FOR UPDATE",
        [p.topic for p in partitions],
        [p.partition for p in partitions],
    )
    stored = {Partition(r["topic"], r["partition"]): r["next_offset"] for r in locked}
    for partition in partitions:
        if stored.get(partition) != expected.get(partition):
            raise PositionConflict(
                f"{partition.topic}[{partition.partition}] is stored at "
                f"{stored.get(partition)}, this consumer expected {expected.get(partition)}"
            )


async def commit_batch(
    conn: asyncpg.Connection,
    events: Sequence[SlaEvent],
    next_offsets: Mapping[Partition, int],
    expected: Mapping[Partition, int | None],
) -> BatchResult:
    """Project `events` (in partition order) and store `next_offsets`, atomically.

    1. Begin a transaction; lock the batch's partitions in `projection_offsets` (FOR UPDATE) and
       check each still holds `expected` (None: no row). A mismatch raises PositionConflict and
       nothing is written.
    2. Read the stored rows of the batch's timers, of the tickets the batch deletes, and which of
       its tickets are already deleted.
    3. Fold the events over those rows (pure: `handlers.fold_batch`): duplicates and events of
       deleted tickets change nothing.
    4. Write the changed timer rows (one unnest upsert), replace the ownership segments of the
       timers whose events carried them, delete the timers and segments of newly deleted
       tickets and remember those tickets.
    5. Take the rollup lock, add the signed contribution deltas to every rollup table (one
       statement), then recompute the rows that lost a time figure from `sla_timers`.
    6. Upsert the partitions' next offsets.
    7. Commit. A failure or cancellation anywhere before this rolls everything back, so the
       consumer, re-seeking to the stored offsets, neither loses nor doubles a record.
    """
    async with conn.transaction():
        # 1
        partitions = list(next_offsets)
        await lock_positions(conn, partitions, expected, table="projection_offsets")
        # 2
        tickets = sorted({e.data.ticket_id for e in events})
        deleting = sorted({e.data.ticket_id for e in events if e.data.ticket_deleted})
        timers = sorted({e.data.timer_id for e in events})
        deleted = {
            r["ticket_id"]
            for r in await conn.fetch(
                "SELECT ticket_id FROM deleted_tickets WHERE ticket_id = ANY($1::text[])", tickets
            )
        }
        rows = {
            r["timer_id"]: _row(r)
            for r in await conn.fetch(
                _SELECT_TIMERS, timers, [t for t in deleting if t not in deleted]
            )
        }
        # 3
        result = fold_batch(events, rows, deleted)
        # 4
        upserts = [_timer_values(r) for r in result.after.values() if r is not None]
        if upserts:
            await conn.execute(_UPSERT_TIMERS, *_columns(upserts, len(COLUMNS)))
        if result.segments:
            await write_segments(conn, result.segments)
        if result.deleted_tickets:
            new = sorted(result.deleted_tickets)
            await conn.execute("DELETE FROM sla_timers WHERE ticket_id = ANY($1::text[])", new)
            await conn.execute("DELETE FROM sla_segments WHERE ticket_id = ANY($1::text[])", new)
            await conn.execute(
                "INSERT INTO deleted_tickets (ticket_id, deleted_at, event_id) "
                "SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[]) "
                "ON CONFLICT DO NOTHING",
                new,
                [result.deleted_tickets[t][0] for t in new],
                [result.deleted_tickets[t][1] for t in new],
            )
        # 5
        await write_rollup_changes(conn, result)
        # 6
        await conn.execute(
            "INSERT INTO projection_offsets (topic, partition, next_offset) "
            "SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[]) "
            "ON CONFLICT (topic, partition) DO UPDATE "
            "SET next_offset = excluded.next_offset, updated_at = now()",
            [p.topic for p in partitions],
            [p.partition for p in partitions],
            [next_offsets[p] for p in partitions],
        )
    # 7: leaving the block committed the transaction.
    return result
