"""The archive, read back: the ticket events of a time range in the order they happened.

For the what-if, which replays them through the engine's pure domain code. Each record is decoded
again from the bytes and headers it arrived with, by the codec the engine uses, so the replay sees
what the engine saw.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg

from report_api.db import quote_identifier
from sla_core.codec import DecodeError, decode_ticket_event
from sla_core.events import TicketEvent

DEFAULT_SCHEMA = "sla_archive"


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
