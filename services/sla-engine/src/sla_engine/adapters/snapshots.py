"""Partition snapshots in PostgreSQL: each ticket's state as a row, and the partition's offset.

A snapshot round writes the tickets changed since the previous round and the partition's next
offset and watermark in one transaction, so a restored partition is always a state that some
prefix of the input produced, with the offset at which that prefix ends.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
import orjson

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
"""


class SnapshotStore:
    """Reads and writes partition snapshots for one consumer group and input topic."""

    def __init__(self, dsn: str, group_id: str, topic: str) -> None:
        self._dsn = dsn
        self._group = group_id
        self._topic = topic
        self._pool: asyncpg.Pool | None = None

    async def start(self, *, attempts: int = 0) -> None:
        """Connect (retrying with backoff until the database answers) and create the tables."""
        delay = 0.5
        attempt = 0
        while True:
            attempt += 1
            try:
                self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=4)
                async with self._pool.acquire() as conn:
                    await conn.execute("SELECT pg_advisory_xact_lock(424242)")
                    await conn.execute(SCHEMA)
                return
            except (OSError, asyncpg.PostgresError) as exc:
                if attempts and attempt >= attempts:
                    raise
                log.warning("database not reachable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

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

    async def load(
        self, partition: int
    ) -> tuple[int, dict[str, Any], list[tuple[str, dict[str, Any]]]] | None:
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
                "SELECT ticket_id, state FROM engine_tickets"
                " WHERE group_id = $1 AND topic = $2 AND partition = $3",
                self._group,
                self._topic,
                partition,
            )
        loads = orjson.loads
        return (
            int(row["next_offset"]),
            orjson.loads(row["meta"]),
            [(r["ticket_id"], loads(r["state"])) for r in records],
        )

    async def save(
        self,
        partition: int,
        next_offset: int,
        meta: dict[str, Any],
        tickets: dict[str, dict[str, Any] | None],
    ) -> None:
        """Write the changed tickets and the partition's offset, in one transaction."""
        ids = list(tickets)
        states = [orjson.dumps(tickets[t]) for t in ids]
        async with self.pool.acquire() as conn, conn.transaction():
            if ids:
                await conn.execute(
                    "INSERT INTO engine_tickets (group_id, topic, partition, ticket_id, state)"
                    " SELECT $1, $2, $3, t.id, t.state"
                    " FROM unnest($4::text[], $5::bytea[]) AS t(id, state)"
                    " ON CONFLICT (group_id, topic, partition, ticket_id)"
                    " DO UPDATE SET state = EXCLUDED.state",
                    self._group,
                    self._topic,
                    partition,
                    ids,
                    states,
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
