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
from typing import Literal

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

# What the fold needs, in one round trip: the stored rows of the batch's timers and of the
# tickets it deletes (`deleted` NULL), and which of its tickets are already deleted (`deleted` set,
# the rest NULL; such a ticket has no stored rows left).
_READ = (
    f"SELECT NULL AS deleted, {', '.join(COLUMNS)} FROM sla_timers "
    "WHERE timer_id = ANY($1::text[]) OR ticket_id = ANY($2::text[]) "
    f"UNION ALL SELECT ticket_id, {', '.join('NULL' for _ in COLUMNS)} FROM deleted_tickets "
    "WHERE ticket_id = ANY($3::text[])"
)

# Everything a batch writes besides its new rows and the rollups, in one statement: the stored
# versions of the rows it replaces (COPY writes the new ones: far cheaper than an upsert, whose
# per-row executor path costs about twice as much for this many indexes), the stored segments the
# batch replaces, the timers and segments of the tickets it deletes, those tickets, and the
# partitions' next offsets (their rows are locked by `lock_positions`).
_REPLACE = """
WITH timers AS (
    DELETE FROM sla_timers WHERE timer_id = ANY($1::text[]) OR ticket_id = ANY($3::text[])
), segments AS (
    DELETE FROM sla_segments WHERE timer_id = ANY($2::text[]) OR ticket_id = ANY($3::text[])
), deleted AS (
    INSERT INTO deleted_tickets (ticket_id, deleted_at, event_id)
    SELECT * FROM unnest($3::text[], $4::timestamptz[], $5::text[])
    ON CONFLICT DO NOTHING
), offsets AS (
    INSERT INTO projection_offsets (topic, partition, next_offset)
    SELECT * FROM unnest($6::text[], $7::int[], $8::bigint[])
    ON CONFLICT (topic, partition) DO UPDATE
    SET next_offset = excluded.next_offset, updated_at = now()
)
SELECT 1
"""


class PositionConflict(RuntimeError):
    """The stored offsets are not where this consumer believed: another consumer (a zombie after a
    rebalance) or a rebuild moved them. The batch is rolled back; the consumer must re-seek."""


@dataclass(frozen=True)
class Partition:
    topic: str
    partition: int


def _row(record: asyncpg.Record) -> TimerRow:
    values = list(record)[1:]  # _READ reads `deleted`, then COLUMNS in order
    values[-1] = tuple(values[-1])  # event_keys
    return TimerRow._make(values)


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


@dataclass(frozen=True)
class Writes:
    """What a batch writes to the timer and segment tables, from its net effect (pure)."""

    replaced: list[str]  # stored timers whose row the batch rewrites
    segments_replaced: list[str]  # stored timers whose segments the batch rewrites
    deleted_tickets: list[str]  # newly deleted tickets: their timers and segments go
    timers: list[TimerRow]  # rows to COPY (the new and the rewritten)
    segments: list[SegmentRow]  # segment rows to COPY


def batch_writes(result: BatchResult) -> Writes:
    """The rows to delete and to COPY for `result`.

    A timer that was not stored has no stored segments either (both are written and deleted
    together), so only stored timers' segments are deleted before the new ones are copied; were
    that ever untrue, the COPY would fail on the primary key and the batch roll back loudly."""
    replaced = [
        t for t, row in result.after.items() if row is not None and result.before[t] is not None
    ]
    return Writes(
        replaced=replaced,
        segments_replaced=[t for t in result.segments if result.before.get(t) is not None],
        deleted_tickets=sorted(result.deleted_tickets),
        timers=[row for row in result.after.values() if row is not None],
        segments=[row for rows in result.segments.values() for row in rows],
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
       its tickets are already deleted (one statement).
    3. Fold the events over those rows (pure: `handlers.fold_batch`): duplicates and events of
       deleted tickets change nothing.
    4. In one statement: delete the stored versions of the rows the batch rewrites and the
       segments it replaces, the timers and segments of newly deleted tickets, remember those
       tickets, and upsert the partitions' next offsets. Then COPY the batch's timer rows and
       segment rows (new rows and new versions alike).
    5. Take the rollup lock, add the signed contribution deltas to every rollup table (one
       statement), then recompute the rows that lost a time figure from `sla_timers`.
    6. Commit. A failure or cancellation anywhere before this rolls everything back, so the
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
        rows: dict[str, TimerRow] = {}
        deleted: set[str] = set()
        for record in await conn.fetch(_READ, timers, deleting, tickets):
            if record["deleted"] is None:
                rows[record["timer_id"]] = _row(record)
            else:
                deleted.add(record["deleted"])
        # 3
        result = fold_batch(events, rows, deleted)
        # 4
        writes = batch_writes(result)
        await conn.execute(
            _REPLACE,
            writes.replaced,
            writes.segments_replaced,
            writes.deleted_tickets,
            [result.deleted_tickets[t][0] for t in writes.deleted_tickets],
            [result.deleted_tickets[t][1] for t in writes.deleted_tickets],
            [p.topic for p in partitions],
            [p.partition for p in partitions],
            [next_offsets[p] for p in partitions],
        )
        if writes.timers:
            await conn.copy_records_to_table("sla_timers", records=writes.timers, columns=COLUMNS)
        if writes.segments:
            await conn.copy_records_to_table(
                "sla_segments", records=writes.segments, columns=SEGMENT_COLUMNS
            )
        # 5
        await write_rollup_changes(conn, result)
    # 6: leaving the block committed the transaction.
    return result
