"""The archive, read back: the ticket events of a time range in the order they happened.

For the what-if, which replays them through the engine's pure domain code. Each record is decoded
again from the bytes and headers it arrived with, by the codec the engine uses, so the replay sees
what the engine saw.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from report_api.db import quote_identifier
from sla_core.codec import DecodeError, decode_ticket_event
from sla_core.events import TicketEvent

DEFAULT_SCHEMA = "sla_archive"
# An archived record as a replay reads it: partition, value, header keys, header values.
ArchivedRecord = tuple[int, bytes, list[str], list[bytes]]


async def archived_events(
    conn: asyncpg.Connection,
    *,
    start: datetime,
    end: datetime,
    schema: str = DEFAULT_SCHEMA,
    prefetch: int = 1000,
) -> AsyncIterator[TicketEvent]:
    """Every archived ticket event with `start <= time < end` (event time), ordered by time, then
    topic, partition and offset (arrival order among equal times). Each (source, id) once, as
    first archived; records that do not decode are left out.

    Streams through a server-side cursor in a read-only REPEATABLE READ transaction on `conn`
    (one snapshot, so batches archived meanwhile do not show halfway); `conn` must not be in a
    transaction already. Close the iterator (`aclose`) to stop early."""
    table = f"{quote_identifier(schema)}.ticket_events"
    query = (
        f"SELECT value, header_keys, header_values FROM {table} "
        "WHERE time >= $1 AND time < $2 AND source IS NOT NULL "
        'ORDER BY time, topic, partition, "offset"'
    )
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in conn.cursor(query, start, end, prefetch=prefetch):
            headers = list(zip(row["header_keys"], row["header_values"], strict=True))
            try:
                yield decode_ticket_event(row["value"], headers)
            except DecodeError:
                continue


# The tickets with an event in the range, then every archived event of theirs, earlier and later
# ones included: a ticket's state needs its whole history, and a timer started in the range may
# end after it.
_TICKETS = (
    "SELECT DISTINCT ticket_id FROM {table} "
    "WHERE topic = $1 AND time >= $2 AND time < $3 AND ticket_id IS NOT NULL"
)
_HISTORY = (
    "SELECT {columns} FROM {table} e "
    "WHERE e.topic = $1 AND e.source IS NOT NULL AND e.ticket_id IN (" + _TICKETS + ")"
)


@asynccontextmanager
async def replay_records(
    conn: asyncpg.Connection,
    *,
    topic: str,
    start: datetime,
    end: datetime,
    schema: str = DEFAULT_SCHEMA,
    prefetch: int = 5000,
) -> AsyncIterator[tuple[int, AsyncIterator[ArchivedRecord]]]:
    """The records a what-if of [start, end) replays: every archived record of `topic` (as
    received; decodable ones) of the tickets that have an event with `start <= time < end`,
    each partition's in the order the engine consumed them (offset order).

    Gives their number and an iterator of (partition, value, header keys, header values), both
    in one read-only REPEATABLE READ transaction on `conn` (one snapshot: the count holds, and
    batches archived meanwhile do not show halfway), without a statement timeout (a what-if of
    a long range sorts a long history); `conn` must not be in a transaction.

    Partitions come interleaved (by offset, then partition), each in offset order: a replay can
    give each partition to its own worker from the start."""
    table = f"{quote_identifier(schema)}.ticket_events"
    columns = "e.partition, e.value, e.header_keys, e.header_values"
    query = _HISTORY.format(columns=columns, table=table) + ' ORDER BY e."offset", e.partition'

    async def records() -> AsyncIterator[ArchivedRecord]:
        async for row in conn.cursor(query, topic, start, end, prefetch=prefetch):
            yield (row[0], row[1], row[2], row[3])

    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute("SET LOCAL statement_timeout = 0")
        total = await conn.fetchval(
            _HISTORY.format(columns="count(*)", table=table), topic, start, end
        )
        yield int(total), records()
