"""The projection consumer: `sla.events` batches in, rows and offsets out (one transaction each).

Offsets live in PostgreSQL (`projection_offsets`), never in Kafka: on every assignment the
consumer seeks to the stored offsets (or the beginning), and `store.commit_batch` writes a batch's
rows and its next offsets together. With a consumer group (`serve`) partitions are assigned by
the broker and a `ConsumerRebalanceListener` seeks; without one (`rebuild`, tests) the runner
assigns itself every partition of the topic.

Failures: a database error rolls the batch back; the runner reconnects, re-seeks to the stored
offsets and goes on. A PositionConflict (another consumer or a rebuild moved the stored offsets)
re-seeks without reconnecting. Anything else restarts the consumer too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from msgspec import UNSET

from report_api import db
from report_api.metrics import Metrics
from report_api.projection.events import InvalidEvent, parse_event
from report_api.projection.handlers import Outcome
from report_api.projection.store import Partition, PositionConflict, commit_batch, read_offsets
from sla_core.events import SlaEvent

log = logging.getLogger(__name__)

_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, ConnectionError)


class _SeekOnAssign(ConsumerRebalanceListener):  # type: ignore[misc]
    """Seeks newly assigned partitions to their stored offsets before any fetch."""

    def __init__(self, runner: ProjectionRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self._runner.forget(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        # If this fails (database down), the first commit of these partitions meets a
        # PositionConflict or a reconnect, both of which re-seek: nothing is skipped.
        await self._runner.seek_to_stored(assigned)
        self._runner.assigned = True


class ProjectionRunner:
    """Consumes `topic` into the projection tables of `schema` until stopped.

    The consumer loop and its offsets discipline serve the archive too (`archive.consumer`),
    which overrides `_project`, `_read_offsets` and `_observe_lag`, and its name and counters."""

    name = "projection"

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topic: str,
        database_url: str,
        schema: str = "public",
        group_id: str | None,
        max_records: int = 5000,
        statement_timeout_ms: int = 120_000,
        metrics: Metrics | None = None,
        retry_delay_s: float = 1.0,
        session_timeout_ms: int = 10_000,
    ) -> None:
        self.topic = topic
        self._bootstrap = bootstrap_servers
        self._url = database_url
        self._schema = schema
        self._group_id = group_id
        self._max_records = max_records
        self._timeout_ms = statement_timeout_ms
        self._metrics = metrics or Metrics()
        self._retry_delay_s = retry_delay_s
        self._session_timeout_ms = session_timeout_ms
        self._errors = self._metrics.projection_errors
        self._conflicts = self._metrics.projection_conflicts
        self._conn: asyncpg.Connection | None = None
        # The rebalance listener runs in the consumer's coordinator task and may seek while a
        # batch commits: one operation at a time on the connection.
        self._conn_lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        # Next offset stored for each owned partition (None: no row yet): what commits expect.
        self._positions: dict[Partition, int | None] = {}
        self._past_end_logged: dict[TopicPartition, int] = {}  # logged once per stored offset
        self._newest_emitted: datetime | None = None
        self._stop = asyncio.Event()
        self.assigned = False  # the consumer has its partitions (and has sought them)
        self.batches = 0

    # ---- lifecycle ----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Connected to both sides and holding an assignment."""
        return self.assigned and self._conn is not None and not self._conn.is_closed()

    def stop(self) -> None:
        """Ask `run` to return after the batch in progress."""
        self._stop.set()

    async def run(self) -> None:
        """Project until `stop()`; recover from database and broker failures on its own."""
        try:
            while not self._stop.is_set():
                try:
                    await self._start()
                    await self._consume(until_end=False)
                except Exception:
                    self._errors.inc()
                    log.exception("%s failed; restarting", self.name, extra={"topic": self.topic})
                    await self._close()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), self._retry_delay_s)
        finally:
            # Also on cancellation: the open transaction dies with the connection.
            await self._close()

    async def catch_up(self) -> int:
        """Project until every owned partition reaches the end it had at the start; then close.

        Returns the number of batches committed. Used by `rebuild` and by tests."""
        try:
            await self._start()
            await self._consume(until_end=True)
            return self.batches
        finally:
            await self._close()

    async def _start(self) -> None:
        self.assigned = False
        self._positions.clear()
        self._conn = await self._connect()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(self._session_timeout_ms // 3, 100),
        )
        self._consumer = consumer
        if self._group_id is not None:
            consumer.subscribe([self.topic], listener=_SeekOnAssign(self))
            await consumer.start()
            return
        await consumer.start()
        partitions: set[int] = set()
        for _ in range(100):  # a topic created a moment ago may not be in the metadata yet
            await consumer.topics()
            partitions = consumer.partitions_for_topic(self.topic) or set()
            if partitions:
                break
            await asyncio.sleep(0.1)
        if not partitions:
            raise RuntimeError(f"topic {self.topic!r} has no partitions")
        owned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(owned)
        await self.seek_to_stored(owned)
        self.assigned = True

    async def _connect(self) -> asyncpg.Connection:
        return await db.connect(
            self._url,
            schema=self._schema,
            statement_timeout_ms=self._timeout_ms,
            app=f"report-api-{self.name}",
        )

    async def _close(self) -> None:
        self.assigned = False
        consumer, self._consumer = self._consumer, None
        conn, self._conn = self._conn, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
        if conn is not None:
            # terminate, not close: a cancelled batch may have left a query running.
            conn.terminate()

    # ---- positions ----------------------------------------------------------------------------

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self._positions.pop(Partition(tp.topic, tp.partition), None)

    async def seek_to_stored(self, partitions: Iterable[TopicPartition]) -> None:
        """Seek each partition to its stored next offset, or to its beginning without one."""
        conn, consumer = self._conn, self._consumer
        if conn is None or consumer is None:
            return  # closing (an assignment that completes during shutdown): nothing to seek
        tps = list(partitions)
        async with self._conn_lock:
            stored = await self._read_offsets(
                conn, [Partition(tp.topic, tp.partition) for tp in tps]
            )
        beginning = []
        for tp in tps:
            partition = Partition(tp.topic, tp.partition)
            offset = stored.get(partition)
            self._positions[partition] = offset
            if offset is None:
                beginning.append(tp)
            else:
                consumer.seek(tp, offset)
        if beginning:
            await consumer.seek_to_beginning(*beginning)

    async def _read_offsets(
        self, conn: asyncpg.Connection, partitions: list[Partition]
    ) -> dict[Partition, int]:
        return await read_offsets(conn, partitions)

    # ---- the loop -----------------------------------------------------------------------------

    async def _consume(self, *, until_end: bool) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self._stop.is_set():
            records = await consumer.getmany(timeout_ms=200, max_records=self._max_records)
            if records:
                await self._project_with_recovery(records)
            self._observe_lag()
            if until_end and not records and await self._caught_up():
                return

    async def _caught_up(self) -> bool:
        """Every owned partition's position has reached its high watermark of the last fetch.

        (The high watermark from fetches, not ListOffsets: the test broker answers that wrongly.)
        """
        consumer = self._consumer
        assert consumer is not None
        if not self.assigned:
            return False
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            if end is None or await consumer.position(tp) < end:
                return False
        return True

    async def _project_with_recovery(
        self, records: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        try:
            await self._project(records)
        except PositionConflict as exc:
            self._conflicts.inc()
            log.warning("stored offsets moved; re-seeking", extra={"detail": str(exc)})
            await self._reseek()
        except _DB_ERRORS:
            self._errors.inc()
            log.exception("%s batch failed; reconnecting", self.name)
            await self._reconnect()

    async def _reconnect(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
        self._conn = None
        while not self._stop.is_set():
            try:
                self._conn = await self._connect()
                await self._reseek()
                return
            except _DB_ERRORS:
                log.warning("database unavailable; retrying", exc_info=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self._retry_delay_s)

    async def _reseek(self) -> None:
        assert self._consumer is not None
        await self.seek_to_stored(self._consumer.assignment())

    async def _project(
        self, records: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
    ) -> None:
        assert self._conn is not None
        started = time.perf_counter()
        events: list[SlaEvent] = []
        next_offsets: dict[Partition, int] = {}
        invalid: list[str] = []
        for tp, batch in records.items():
            for record in batch:
                try:
                    events.append(parse_event(record.value))
                except InvalidEvent as exc:
                    invalid.append(exc.reason)
                    log.warning(
                        "skipped a record that is not an SLA event",
                        extra={
                            "topic": tp.topic,
                            "partition": tp.partition,
                            "offset": record.offset,
                            "reason": exc.reason,
                            "detail": str(exc),
                        },
                    )
            next_offsets[Partition(tp.topic, tp.partition)] = batch[-1].offset + 1
        expected = {p: self._positions.get(p) for p in next_offsets}
        async with self._conn_lock:
            result = await commit_batch(self._conn, events, next_offsets, expected)
        self._positions.update(next_offsets)
        self.batches += 1
        for event_type, outcome in result.outcomes:
            self._metrics.projection_events.labels(event_type, outcome.value).inc()
        for _reason in invalid:
            self._metrics.projection_events.labels("unknown", Outcome.INVALID.value).inc()
        emitted = [e.time if e.data.emitted_at is UNSET else e.data.emitted_at for e in events]
        if emitted:
            newest = max(emitted)
            if self._newest_emitted is None or newest > self._newest_emitted:
                self._newest_emitted = newest
        self._metrics.projection_batch.observe(time.perf_counter() - started)

    def _records_behind(self) -> int:
        """Records between the stored positions and the partitions' ends; a position past its
        partition's end (the topic was recreated or truncated while the database kept the old
        offsets) is counted in `report_api_offsets_past_end` and logged once, as an error: the
        consumer would wait there, and never read the records of the new log before it."""
        consumer = self._consumer
        if consumer is None:
            return 0
        behind = past = 0
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            stored = self._positions.get(Partition(tp.topic, tp.partition))
            if end is None:
                continue
            behind += max(end - (stored or 0), 0)
            if stored is not None and stored > end:
                past += 1
                if self._past_end_logged.get(tp) != stored:
                    self._past_end_logged[tp] = stored
                    log.error(
                        "stored offset past the end of its partition: was the topic recreated? "
                        "Rebuild the projection (report-api rebuild) or reset its offsets",
                        extra={"consumer": self.name, "topic": tp.topic,
                               "partition": tp.partition, "stored": stored, "end": end},
                    )  # fmt: skip
        self._metrics.offsets_past_end.labels(self.name).set(past)
        return behind

    def _observe_lag(self) -> None:
        if self._consumer is None:
            return
        behind = self._records_behind()
        self._metrics.projection_behind.set(behind)
        if behind == 0 or self._newest_emitted is None:
            self._metrics.projection_lag.set(0)
        else:
            age = (datetime.now(UTC) - self._newest_emitted).total_seconds()
            self._metrics.projection_lag.set(max(age, 0.0))
