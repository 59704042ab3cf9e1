"""The archive consumer: the ticket topic in, every record kept as received, offsets beside it.

It is the projection's consumer loop (`ProjectionRunner`: offsets in PostgreSQL, sought on every
assignment, a batch's rows and offsets in one transaction, PositionConflict and database failures
re-seek) with another batch step: `store.staging_rows` (pure), `store.ensure_partitions`, then
`store.commit_archive_batch`. Its own consumer group (SLA_ARCHIVE_GROUP_ID), its own offsets
table (`archive_offsets`) and its own schema, so a projection rebuild leaves it be.
"""

from __future__ import annotations

import logging
import time
from datetime import date

import asyncpg
from aiokafka import ConsumerRecord, TopicPartition

from report_api.archive.store import (
    commit_archive_batch,
    ensure_partitions,
    staging_rows,
)
from report_api.metrics import Metrics
from report_api.projection.runner import ProjectionRunner
from report_api.projection.store import Partition, read_offsets

log = logging.getLogger(__name__)


class ArchiveRunner(ProjectionRunner):
    """Archives `topic` into the archive tables of `schema` until stopped."""

    name = "archive"

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topic: str,
        database_url: str,
        schema: str = "sla_archive",
        group_id: str | None,
        max_records: int = 5000,
        statement_timeout_ms: int = 120_000,
        metrics: Metrics | None = None,
        retry_delay_s: float = 1.0,
        session_timeout_ms: int = 10_000,
    ) -> None:
        super().__init__(
            bootstrap_servers=bootstrap_servers,
            topic=topic,
            database_url=database_url,
            schema=schema,
            group_id=group_id,
            max_records=max_records,
            statement_timeout_ms=statement_timeout_ms,
            metrics=metrics,
            retry_delay_s=retry_delay_s,
            session_timeout_ms=session_timeout_ms,
        )
        self._errors = self._metrics.archive_errors
        self._conflicts = self._metrics.archive_conflicts
        self._months: set[date] = set()  # partitions known to exist
        self.archived = 0
        self.duplicates = 0
        self.undecodable = 0

    async def _connect(self) -> asyncpg.Connection:
        self._months.clear()  # a new connection may meet a database that was reset
        return await super()._connect()

    async def _read_offsets(
        self, conn: asyncpg.Connection, partitions: list[Partition]
    ) -> dict[Partition, int]:
        return await read_offsets(conn, partitions, table="archive_offsets")

    async def _project(
        self, records: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        assert self._conn is not None
        started = time.perf_counter()
        rows = staging_rows(record for batch in records.values() for record in batch)
        next_offsets = {
            Partition(tp.topic, tp.partition): batch[-1].offset + 1 for tp, batch in records.items()
        }
        expected = {p: self._positions.get(p) for p in next_offsets}
        async with self._conn_lock:
            await ensure_partitions(self._conn, rows, self._months)
            result = await commit_archive_batch(self._conn, rows, next_offsets, expected)
        self._positions.update(next_offsets)
        self.batches += 1
        decoded = result.archived - result.undecodable
        self.archived += result.archived
        self.duplicates += result.duplicates
        self.undecodable += result.undecodable
        outcomes = self._metrics.archive_records
        outcomes.labels("archived").inc(decoded)
        outcomes.labels("duplicate").inc(result.duplicates)
        outcomes.labels("undecodable").inc(result.undecodable)
        if result.undecodable:
            log.warning(
                "archived records that do not decode as ticket events",
                extra={"topic": self.topic, "count": result.undecodable},
            )
        self._metrics.archive_batch.observe(time.perf_counter() - started)

    def _observe_lag(self) -> None:
        if self._consumer is None:
            return
        self._metrics.archive_behind.set(self._records_behind())
