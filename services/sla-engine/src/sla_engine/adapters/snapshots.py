"""Partition snapshots in PostgreSQL: each ticket's state as a row, and the partition's offset.

A snapshot round writes the tickets changed since the previous round and the partition's next
offset and watermark in one transaction, so a restored partition is always a state that some
prefix of the input produced, with the offset at which that prefix ends.

A ticket row keeps its state as JSON bytes, with the instant of its earliest alarm and its count
of running timers beside it: a restore reads those and leaves the state undecoded until the
engine needs it (`PartitionEngine.restore`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any, cast

import asyncpg
import orjson

from sla_core.partition.rows import StoredRow, TicketRow
from sla_edge.database_url import plain_url
from sla_edge.retry import retry

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS engine_partitions (
    group_id    text    NOT NULL,
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    meta        jsonb   NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
CREATE TABLE IF NOT EXISTS engine_tickets (
    group_id  text    NOT NULL,
    topic     text    NOT NULL,
    partition integer NOT NULL,
    ticket_id text    NOT NULL,
    state     bytea   NOT NULL,
    PRIMARY KEY (group_id, topic, partition, ticket_id)
);
-- added after the first release: rows written before have NULLs here and are decoded
-- when restored
ALTER TABLE engine_tickets
    ADD COLUMN IF NOT EXISTS alarm_us bigint,
    ADD COLUMN IF NOT EXISTS running  smallint;
-- tickets forgotten after their reopen window: an event for one is dead-lettered (forgotten)
CREATE TABLE IF NOT EXISTS engine_forgotten (
    group_id     text    NOT NULL,
    topic        text    NOT NULL,
    partition    integer NOT NULL,
    ticket_id    text    NOT NULL,
    forgotten_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition, ticket_id)
);
"""


class SnapshotStore:
    """Reads and writes partition snapshots for one consumer group and input topic."""

    def __init__(self, dsn: str, group_id: str, topic: str) -> None:
        self._dsn = plain_url(dsn)  # any accepted form (postgresql+asyncpg:// too)
        self._group = group_id
        self._topic = topic
        self._pool: asyncpg.Pool | None = None

    async def start(self, *, attempts: int | None = None) -> None:
        """Connect (retrying with backoff until the database answers, or `attempts` times) and
        create the tables."""

        async def connect() -> None:
            self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=4)
            async with self._pool.acquire() as conn:
                await conn.execute("SELECT pg_advisory_xact_lock(424242)")
                await conn.execute(SCHEMA)

        await retry(
            "database not reachable",
            connect,
            on=(OSError, asyncpg.PostgresError),
            attempts=attempts,
            log=log,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "SnapshotStore.start() first"
        return self._pool

    async def ping(self) -> bool:
        try:
            async with self.pool.acquire(timeout=1) as conn:
                await conn.fetchval("SELECT 1")
            return True
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False

    async def load(self, partition: int) -> tuple[int, dict[str, Any], list[StoredRow]] | None:
        """The partition's snapshot: (next offset, meta, ticket rows), or None if there is none."""
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT next_offset, meta FROM engine_partitions"
                " WHERE group_id = $1 AND topic = $2 AND partition = $3",
                self._group,
                self._topic,
                partition,
            )
            if row is None:
                return None
            records = await conn.fetch(
                "SELECT ticket_id, state, alarm_us, running FROM engine_tickets"
                " WHERE group_id = $1 AND topic = $2 AND partition = $3",
                self._group,
                self._topic,
                partition,
            )
        # a Record unpacks as its values: a StoredRow, with no copy of half a million rows
        return int(row["next_offset"]), orjson.loads(row["meta"]), cast(list[StoredRow], records)

    async def forgotten(self, partition: int, ticket_ids: Collection[str]) -> set[str]:
        """Which of `ticket_ids` this partition has forgotten."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT ticket_id FROM engine_forgotten WHERE group_id = $1 AND topic = $2"
                " AND partition = $3 AND ticket_id = ANY($4::text[])",
                self._group,
                self._topic,
                partition,
                list(ticket_ids),
            )
        return {row["ticket_id"] for row in rows}

    async def save(
        self,
        partition: int,
        next_offset: int,
        meta: dict[str, Any],
        tickets: dict[str, TicketRow],
        forgotten: Collection[str] = (),
    ) -> None:
        """Write the changed tickets, the tickets forgotten (their rows go, their ids are kept)
        and the partition's offset, in one transaction."""
        ids = list(tickets)
        rows = list(tickets.values())
        async with self.pool.acquire() as conn, conn.transaction():
            if forgotten:
                await conn.execute(
                    "DELETE FROM engine_tickets WHERE group_id = $1 AND topic = $2"
                    " AND partition = $3 AND ticket_id = ANY($4::text[])",
                    self._group,
                    self._topic,
                    partition,
                    list(forgotten),
                )
                await conn.execute(
                    "INSERT INTO engine_forgotten (group_id, topic, partition, ticket_id)"
                    " SELECT $1, $2, $3, unnest($4::text[]) ON CONFLICT DO NOTHING",
                    self._group,
                    self._topic,
                    partition,
                    list(forgotten),
                )
            if ids:
                await conn.execute(
                    "INSERT INTO engine_tickets"
                    " (group_id, topic, partition, ticket_id, state, alarm_us, running)"
                    " SELECT $1, $2, $3, t.id, t.state, t.alarm_us, t.running"
                    " FROM unnest($4::text[], $5::bytea[], $6::bigint[], $7::smallint[])"
                    " AS t(id, state, alarm_us, running)"
                    " ON CONFLICT (group_id, topic, partition, ticket_id)"
                    " DO UPDATE SET state = EXCLUDED.state, alarm_us = EXCLUDED.alarm_us,"
                    " running = EXCLUDED.running",
                    self._group,
                    self._topic,
                    partition,
                    ids,
                    [r.state for r in rows],
                    [r.alarm_us for r in rows],
                    [r.running for r in rows],
                )
            await conn.execute(
                "INSERT INTO engine_partitions (group_id, topic, partition, next_offset, meta)"
                " VALUES ($1, $2, $3, $4, $5::jsonb)"
                " ON CONFLICT (group_id, topic, partition)"
                " DO UPDATE SET next_offset = EXCLUDED.next_offset, meta = EXCLUDED.meta,"
                " updated_at = now()",
                self._group,
                self._topic,
                partition,
                next_offset,
                orjson.dumps(meta).decode(),
            )
