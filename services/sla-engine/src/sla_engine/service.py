"""The engine's I/O shell: Kafka in, PartitionEngine, Kafka out, snapshots in PostgreSQL.

One loop, one batch at a time:

1. fetch a batch of ticket records (getmany);
2. decode each record; a bad one is routed to the dead-letter topic, a good one is applied to its
   partition's engine (outputs of records below `suppress_until`, already emitted before a
   restart, are dropped);
3. for every partition that has caught up with its end, advance the watermark to the wall
   clock less the grace, firing the warnings and breaches that fell due;
4. produce every output and dead letter and wait until all are acknowledged (acks=all);
5. only then commit the consumed offsets to Kafka;
6. every `snapshot_interval_seconds`, write the changed tickets and each partition's committed
   offset to PostgreSQL in one transaction.

A crash anywhere re-processes from the last snapshot, suppressing outputs up to the committed
offset: event ids are deterministic, so at worst a tail of outputs is emitted again with the
same ids. Correctness never rests on producer idempotence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from sla_core.codec import MAX_EVENT_BYTES, DecodeError, decode_ticket_event, encode_sla_event
from sla_core.events import TICKET_TYPES, SlaEvent
from sla_core.instants import to_us
from sla_core.policy import Policy, PolicyError, load_policy
from sla_engine.adapters.snapshots import SnapshotStore
from sla_engine.collector import Collector
from sla_engine.config import EngineSettings
from sla_engine.engine import PartitionEngine, SnapshotRows
from sla_engine.metrics import EngineMetrics

log = logging.getLogger("sla_engine")

CONTENT_TYPE = ("content-type", b"application/cloudevents+json")
_HEADERS = [CONTENT_TYPE]  # shared by every record of a batch: read, never changed
_FILL_CHUNK = 500  # snapshot rows built between two turns of the loop (about 3 ms)


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Partition:
    """One owned input partition: its engine and where we are in it."""

    engine: PartitionEngine
    next_offset: int
    suppress_until: int  # outputs of records below this offset were emitted before a restart
    end_offset: int = 0  # the partition's end when assigned (until a fetch tells better)


@dataclass
class _Taken:
    """One partition's snapshot as begun in the loop, to be filled and written in the
    background."""

    partition: int
    next_offset: int
    engine: PartitionEngine
    rows: SnapshotRows  # filled by the write task, or by the engine before a ticket changes


@dataclass
class DeadLetter:
    record: object
    error: DecodeError
    topic: str


@dataclass
class Outbox:
    events: list[SlaEvent] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


def dead_letter_headers(record: Any, topic: str, error: DecodeError) -> list[tuple[str, bytes]]:
    """The original headers plus Kafka Connect's `__connect.errors.*` names for the failure."""
    return [
        *record.headers,
        ("__connect.errors.topic", topic.encode()),
        ("__connect.errors.partition", str(record.partition).encode()),
        ("__connect.errors.offset", str(record.offset).encode()),
        ("__connect.errors.timestamp", str(record.timestamp).encode()),
        ("__connect.errors.exception.class.name", b"sla_core.codec.DecodeError"),
        ("__connect.errors.exception.message", str(error).encode()[:4000]),
        ("__connect.errors.reason", error.reason.encode()),
    ]


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, service: EngineService) -> None:
        self.service = service

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.service.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.service.on_assigned(assigned)


@lru_cache(maxsize=1 << 16)
def _key_hash(key: bytes) -> int:
    """murmur2 of a record key as Kafka's default partitioner takes it (pure Python in aiokafka,
    so cached: a ticket's events come together)."""
    return int(murmur2(key)) & 0x7FFFFFFF


class _Batches:
    """Record batches being filled, one per topic partition, for `send_batch`."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.partitions: dict[str, list[int]] = {}
        self.open: dict[tuple[str, int], Any] = {}
        self.futures: list[Any] = []

    async def prepare(self, topic: str) -> None:
        """Learn the topic's partitions (before `add`)."""
        if topic not in self.partitions:
            self.partitions[topic] = sorted(await self.producer.partitions_for(topic))

    def _slot(self, topic: str, key: bytes) -> tuple[str, int]:
        partitions = self.partitions[topic]
        return topic, partitions[_key_hash(key) % len(partitions)]

    def add(self, topic: str, key: bytes, value: bytes) -> bool:
        """Append to the open batch of the key's partition (topic prepared), without awaiting
        anything; False when that batch is full (then `put` takes the record)."""
        slot = self._slot(topic, key)
        batch = self.open.get(slot)
        if batch is None:
            batch = self.open[slot] = self.producer.create_batch()
        return batch.append(key=key, value=value, timestamp=None, headers=_HEADERS) is not None

    async def put(self, topic: str, key: bytes, value: bytes) -> None:
        """Append; when the key's partition's batch is full, send it and start the next one. A
        record too big for even an empty batch (max_batch_size) goes alone, in order, after
        the batch before it."""
        await self.prepare(topic)
        if self.add(topic, key, value):
            return
        slot = self._slot(topic, key)
        partition = slot[1]
        full = self.open.pop(slot)
        self.futures.append(await self.producer.send_batch(full, topic, partition=partition))
        if self.add(topic, key, value):
            return
        del self.open[slot]  # the empty batch `add` opened cannot take it either
        self.futures.append(
            await self.producer.send(topic, value, key=key, partition=partition, headers=_HEADERS)
        )

    async def flush(self) -> list[Any]:
        for (topic, partition), batch in self.open.items():
            self.futures.append(await self.producer.send_batch(batch, topic, partition=partition))
        self.open.clear()
        return self.futures


class EngineService:
    """Runs the engine for the partitions this replica owns."""

    def __init__(
        self,
        settings: EngineSettings,
        *,
        metrics: EngineMetrics | None = None,
        clock: Callable[[], datetime] = wall_clock,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or EngineMetrics()
        self.clock = clock
        self.policy: Policy = load_policy(settings.policy_file)
        self._policy_mtime = self._mtime()
        self.parts: dict[int, Partition] = {}
        self.store = SnapshotStore(
            settings.database_url, settings.engine_group_id, settings.ticket_topic
        )
        self.producer: AIOKafkaProducer | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._last_snapshot = time.monotonic()
        self._writing: asyncio.Task[None] | None = None  # the snapshot being written
        self._outputs: asyncio.Task[None] | None = None  # a batch's acknowledgements and commit
        self._grace_us = int(settings.grace_seconds * 1_000_000)
        self.assigned_once = False
        self._rebalances = 0  # bumped by every revocation and assignment, under the lock
        self.restoring = False
        self._prefetched: dict[int, asyncio.Future[Any]] = {}
        self.last_batch_at = time.monotonic()
        self.collector = Collector()

    # ---- lifecycle --------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Ready once the group has assigned partitions and their state is restored."""
        return self.assigned_once and not self.restoring and self.consumer is not None

    @property
    def settled(self) -> bool:
        """No batch is being applied and every output handed to the producer is acknowledged
        and its offsets committed (for benchmarks and tests)."""
        return not self._lock.locked() and (self._outputs is None or self._outputs.done())

    async def start(self) -> None:
        s = self.settings
        self.collector.install()
        await self.store.start()
        await self.ensure_topics()
        self.producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=s.kafka_idempotence,
            linger_ms=5,
            max_batch_size=256 * 1024,
            request_timeout_ms=30000,
        )
        await self._retry("producer", self.producer.start)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            group_id=s.engine_group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.max_batch,
            fetch_max_wait_ms=50,
            session_timeout_ms=s.kafka_session_timeout_ms,
            heartbeat_interval_ms=max(100, s.kafka_session_timeout_ms // 10),
            rebalance_timeout_ms=s.kafka_rebalance_timeout_ms,
        )
        await self._retry("consumer", self.consumer.start)
        self.consumer.subscribe([s.ticket_topic], listener=_Rebalance(self))

    async def _retry(self, what: str, start: Callable[[], object]) -> None:
        delay = 0.5
        while True:
            try:
                await start()  # type: ignore[misc]
                return
            except KafkaError as exc:
                log.warning("%s: broker not reachable (%s); retrying in %.1fs", what, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def ensure_topics(self) -> None:
        """Create the engine's topics when missing (a broker with auto-create off needs this)."""
        s = self.settings
        admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap_servers)
        await self._retry("admin", admin.start)
        try:
            existing = set(await admin.list_topics())
            wanted = [s.ticket_topic, s.events_topic, s.breach_topic, s.dlq_topic]
            new = [
                NewTopic(name, num_partitions=s.topic_partitions, replication_factor=1)
                for name in wanted
                if name not in existing
            ]
            if new:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(new)
        finally:
            await admin.close()

    async def stop(self) -> None:
        """Stop consuming, write a last snapshot, close everything."""
        self._stopping.set()
        async with self._lock:
            await self._snapshot(force=True)
        if self.consumer is not None:
            await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()
        await self.store.close()
        self.collector.uninstall()

    # ---- rebalance --------------------------------------------------------------------------

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self._lock:
            self._rebalances += 1
            gone = [tp.partition for tp in revoked if tp.partition in self.parts]
            await self._snapshot(force=True, partitions=gone)
            for partition in gone:
                del self.parts[partition]
                self.metrics.watermark_lag.remove(str(partition))
            log.info("partitions revoked", extra={"partitions": sorted(gone)})

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        assert self.consumer is not None
        self.restoring = True
        try:
            async with self._lock:
                self._rebalances += 1
                ends = await self.consumer.end_offsets(list(assigned)) if assigned else {}
                # fetch every snapshot at once (PostgreSQL works on its own core) and rebuild
                # them one by one as they arrive
                self._prefetched = {
                    tp.partition: asyncio.ensure_future(self.store.load(tp.partition))
                    for tp in assigned
                }
                try:
                    for tp in assigned:
                        await self._restore_until_done(tp, ends.get(tp, 0))
                finally:
                    for task in self._prefetched.values():  # left by a failed restore
                        if task.done() and not task.cancelled():
                            task.exception()  # retrieved: the restore's own error is raised
                        task.cancel()
                    self._prefetched = {}
        finally:
            self.restoring = False
        self.assigned_once = True
        log.info(
            "partitions assigned",
            extra={"partitions": sorted(tp.partition for tp in assigned)},
        )

    async def _restore_until_done(self, tp: TopicPartition, end_offset: int) -> None:
        """Restore a partition, retrying with backoff while its snapshot is out of reach.

        Giving up would leave an assigned partition without an engine: its records would be
        fetched and skipped until the next rebalance, which may never come. Meanwhile the
        replica is not ready (`restoring`); a stop ends the wait.
        """
        delay = 0.5
        while True:
            try:
                await self._restore(tp, end_offset)
                return
            except Exception as exc:
                if self._stopping.is_set():
                    raise
                log.warning(
                    "restoring partition %s failed (%s); retrying in %.1fs",
                    tp.partition,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _restore(self, tp: TopicPartition, end_offset: int) -> None:
        assert self.consumer is not None
        started = time.perf_counter()
        with self.collector.paused():  # millions of new objects, none of them cyclic garbage
            prefetched = self._prefetched.pop(tp.partition, None)
            snapshot = await (prefetched or self.store.load(tp.partition))
            committed = await self.consumer.committed(tp)
            if snapshot is not None:
                offset, meta, rows = snapshot
                engine = PartitionEngine.restore(
                    tp.partition, self.policy, meta, rows, self._future_tolerance
                )
        if snapshot is None:
            offset, rows = 0, []
            engine = PartitionEngine(tp.partition, self.policy, self._future_tolerance)
        self.consumer.seek(tp, offset)
        self.parts[tp.partition] = Partition(
            engine, next_offset=offset, suppress_until=committed or 0, end_offset=end_offset
        )
        log.info(
            "partition restored",
            extra={
                "partition": tp.partition,
                "snapshot_offset": offset,
                "committed_offset": committed,
                "tickets": len(rows),
                "tickets_packed": engine.packed,  # decoded when first needed
                "seconds": round(time.perf_counter() - started, 3),
            },
        )

    @property
    def _future_reject(self) -> timedelta:
        return timedelta(seconds=self.settings.future_reject_seconds)

    @property
    def _future_tolerance(self) -> timedelta:
        return timedelta(seconds=self.settings.future_tolerance_seconds)

    # ---- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Process until stop() is called."""
        assert self.consumer is not None
        while not self._stopping.is_set():
            rebalances = self._rebalances
            try:
                batch = await self.consumer.getmany(
                    timeout_ms=self._wait_ms(), max_records=self.settings.max_batch
                )
            except KafkaError as exc:
                log.warning("fetch failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            if self._stopping.is_set():
                break
            async with self._lock:
                if rebalances == self._rebalances:
                    await self.process(batch)
                    if not batch:
                        self._unpack_while_idle()
                else:
                    self._refetch()
            self.maybe_reload_policy()
            self.collector.tick()

    def _unpack_while_idle(self, budget_s: float = 0.01) -> None:
        """Decode a few milliseconds' worth of the restored tickets still packed: with nothing
        fetched, the loop has the time, and a ticket decoded now costs nothing when its event
        or its alarm comes (see PartitionEngine.restore)."""
        deadline = time.perf_counter() + budget_s
        for part in self.parts.values():
            while part.engine.packed and time.perf_counter() < deadline:
                part.engine.unpack_some(100)

    def _refetch(self) -> None:
        """Drop a batch fetched across a rebalance and fetch again from where each engine is.

        Such a batch may start at the group's committed offset, past the snapshot offset a
        partition was just restored to: applying it would skip the records in between, and the
        restored state would silently miss them (a lost event, a missed breach).
        """
        assert self.consumer is not None
        topic = self.settings.ticket_topic
        for partition, part in self.parts.items():
            self.consumer.seek(TopicPartition(topic, partition), part.next_offset)

    def _wait_ms(self) -> int:
        """Sleep no longer than until the earliest alarm can fire (its instant plus the grace)."""
        wait_ms = 200
        now_us = to_us(self.clock())
        for part in self.parts.values():
            alarm = part.engine.next_alarm_us()
            if alarm is not None:
                wait_ms = min(wait_ms, (alarm + self._grace_us - now_us) // 1000 + 1)
        return max(wait_ms, 1)

    async def process(self, batch: dict[TopicPartition, list[object]]) -> None:
        """Steps 2 to 6 of the module docstring for one fetched batch.

        Steps 4 and 5 are pipelined: a task produces the outputs, awaits their
        acknowledgements and commits the offsets while the loop fetches and applies the next
        batch (the CPU-bound part). The next batch's task starts only once that one is done,
        so outputs keep their order, and a snapshot, a revocation or a stop waits for it
        (`_settle_outputs`): nothing is committed or snapshotted before its outputs are
        acknowledged.
        """
        assert self.consumer is not None
        started = time.perf_counter()
        wall = self.clock()
        outbox = Outbox()
        commits: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            part = self.parts.get(tp.partition)
            if part is None:
                continue  # revoked while the batch was in flight: the new owner redoes it
            self._apply_records(tp, part, records, wall, outbox)
            commits[tp] = part.next_offset
        self._advance_caught_up(outbox)
        await self._settle_outputs()
        if outbox.events or outbox.dead or commits:
            self._outputs = asyncio.create_task(self._complete(outbox, commits))
        self.metrics.open_timers.set(sum(p.engine.open_timers for p in self.parts.values()))
        self.metrics.tickets_packed.set(sum(p.engine.packed for p in self.parts.values()))
        if batch:
            self.metrics.processing.observe(time.perf_counter() - started)
        await self._snapshot()

    async def _settle_outputs(self) -> None:
        """Wait until the outputs handed to the producer are acknowledged and their offsets
        committed."""
        if self._outputs is not None:
            outputs, self._outputs = self._outputs, None
            await outputs

    async def _complete(self, outbox: Outbox, commits: dict[TopicPartition, int]) -> None:
        """Steps 4 and 5 for one batch: acknowledgements (resending the whole outbox until the
        broker takes it: ids are deterministic, so a resend can only duplicate, never lose),
        then the offset commit."""
        assert self.consumer is not None
        await self._emit(outbox)
        if commits:
            try:
                await self.consumer.commit(commits)
            except KafkaError as exc:
                # after a rebalance the new owner re-processes; ids make that harmless
                log.warning("offset commit failed: %s", exc)

    def _apply_records(
        self,
        tp: TopicPartition,
        part: Partition,
        records: list[object],
        wall: datetime,
        outbox: Outbox,
    ) -> None:
        engine = part.engine
        metrics = self.metrics
        consumed: Counter[str] = Counter()  # counted per batch: labels() costs per call
        reject_after = wall + self._future_reject
        handle, outputs = engine.handle, outbox.events
        for record in records:
            offset: int = record.offset  # type: ignore[attr-defined]
            if offset < part.next_offset:
                continue
            part.next_offset = offset + 1
            try:
                event = decode_ticket_event(record.value, record.headers)  # type: ignore[attr-defined]
                if event.time > reject_after:
                    raise DecodeError(
                        "future_time",
                        f"time {event.time.isoformat()} is more than "
                        f"{self.settings.future_reject_seconds:g}s ahead of the wall clock",
                    )
            except DecodeError as exc:
                self._dead_letter(tp, record, exc, outbox)
                continue
            if event.type not in TICKET_TYPES:
                metrics.rejected.labels("unknown_type").inc()
                continue
            try:
                result = handle(event, wall)
            except Exception as exc:
                # a record the domain cannot apply must not stop the partition for good (the
                # same record would crash every restart): park it with its reason
                log.exception("ticket event could not be applied")
                error = DecodeError("unprocessable", f"{type(exc).__name__}: {exc}")
                self._dead_letter(tp, record, error, outbox)
                continue
            consumed[event.type] += 1
            if result.clamped:
                metrics.future_clamped.inc()
            if offset >= part.suppress_until:
                outputs.extend(result.outputs)
        for type_, count in consumed.items():
            metrics.consumed.labels(type_).inc(count)

    def _dead_letter(
        self, tp: TopicPartition, record: Any, error: DecodeError, outbox: Outbox
    ) -> None:
        """Count, log once and queue for the dead-letter topic a record that cannot be applied."""
        self.metrics.rejected.labels(error.reason).inc()
        self.metrics.dead_letters.labels(error.reason).inc()
        outbox.dead.append(DeadLetter(record, error, tp.topic))
        log.warning(
            "dead-lettered record",
            extra={
                "partition": tp.partition,
                "offset": record.offset,
                "reason": error.reason,
                "error": str(error),
            },
        )

    def _advance_caught_up(self, outbox: Outbox) -> None:
        assert self.consumer is not None
        now_us = to_us(self.clock())
        for partition, part in self.parts.items():
            tp = TopicPartition(self.settings.ticket_topic, partition)
            end = self.consumer.highwater(tp)
            if end is None:
                end = part.end_offset
            engine = part.engine
            if part.next_offset >= end and part.next_offset >= part.suppress_until:
                watermark = max(engine.max_event_us, now_us - self._grace_us)
                outbox.events.extend(engine.advance(watermark))
            lag = max(0.0, (now_us - engine.watermark_us) / 1e6) if engine.watermark_us else 0.0
            self.metrics.watermark_lag.labels(str(partition)).set(lag)

    async def _emit(self, outbox: Outbox) -> None:
        """Produce every output and dead letter; return once all are acknowledged.

        A broker that does not answer is retried with backoff, resending the whole batch: the
        ids are deterministic, so a resend can only duplicate, never lose.
        """
        if not outbox.events and not outbox.dead:
            return
        delay = 0.2
        while True:
            try:
                await asyncio.gather(*await self._send_all(outbox))
                break
            except KafkaError as exc:
                log.warning("produce failed (%s); resending in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        now = self.clock()
        grace = self.settings.grace_seconds
        for type_, count in Counter(event.type for event in outbox.events).items():
            self.metrics.emitted.labels(type_).inc(count)
        for event in outbox.events:
            if event.type == "sla.breached":
                data = event.data
                self.metrics.breaches.labels(
                    data["level"], data["metric"], data.get("department") or ""
                ).inc()
                delay_s = (now - event.time).total_seconds() - grace
                self.metrics.breach_delay.observe(max(delay_s, 0.0))

    async def _send_all(self, outbox: Outbox) -> list[Any]:
        """Hand the outbox to the producer; the futures of its acknowledgements.

        SLA events go out as one record batch per topic partition (aiokafka's `send_batch`),
        partitioned by key exactly as the default partitioner would: a fraction of the per-send
        overhead, which dominated the engine's loop. Dead letters, rare and possibly large, go
        one by one."""
        producer = self.producer
        assert producer is not None
        s = self.settings
        emitted_at = self.clock()
        batches = _Batches(producer)
        events_topic, breach_topic, source = s.events_topic, s.breach_topic, s.source_name
        if outbox.events:
            await batches.prepare(events_topic)
            await batches.prepare(breach_topic)
        add, put = batches.add, batches.put  # add never awaits: put only for a full batch
        for event in outbox.events:
            value = encode_sla_event(event, source=source, emitted_at=emitted_at)
            key = event.ticket_id.encode()
            if not add(events_topic, key, value):
                await put(events_topic, key, value)
            if event.for_breach_topic and not add(breach_topic, key, value):
                await put(breach_topic, key, value)
        futures = await batches.flush()
        for dead in outbox.dead:
            record: Any = dead.record
            value, headers = record.value, dead_letter_headers(record, dead.topic, dead.error)
            if value is not None and len(value) > MAX_EVENT_BYTES:
                # the producer (and a broker's default message.max.bytes) refuses it whole, and
                # resending it forever would block the partition: keep its head and its size
                headers.append(("__connect.errors.value.truncated", str(len(value)).encode()))
                value = value[:MAX_EVENT_BYTES]
            futures.append(await producer.send(s.dlq_topic, value, key=record.key, headers=headers))
        return futures

    # ---- snapshots and policy ----------------------------------------------------------------

    async def _snapshot(self, *, force: bool = False, partitions: list[int] | None = None) -> None:
        """Step 6: take the changed tickets and committed offsets, and write them; a failure
        only delays them.

        The snapshot is begun here, in the loop, so its rows are the states at these offsets;
        they are built and written in the background while the loop goes on (a ticket about
        to change is built first: `SnapshotRows`), one write at a time, in order. A forced
        snapshot (revocation, stop) waits for the write before it and for its own.
        """
        interval = self.settings.snapshot_interval_seconds
        if not force and time.monotonic() - self._last_snapshot < interval:
            return
        if self._writing is not None and not self._writing.done() and not force:
            return  # the database is slower than the interval: take more rows next time
        self._last_snapshot = time.monotonic()
        await self._settle_outputs()  # the rows must not run ahead of acknowledged outputs
        await self._snapshot_written()
        taken: list[_Taken] = []
        for partition in partitions if partitions is not None else list(self.parts):
            part = self.parts.get(partition)
            if part is not None:
                engine = part.engine
                taken.append(_Taken(partition, part.next_offset, engine, engine.begin_snapshot()))
        self._writing = asyncio.create_task(self._write_snapshot(taken))
        if force:
            await self._snapshot_written()

    async def _snapshot_written(self) -> None:
        if self._writing is not None:
            await self._writing
            self._writing = None

    async def _write_snapshot(self, taken: list[_Taken]) -> None:
        started = time.perf_counter()
        for n, snap in enumerate(taken):
            try:
                while not snap.engine.fill_snapshot(_FILL_CHUNK):  # noqa: ASYNC110 (work)
                    await asyncio.sleep(0)  # the loop goes on between chunks
                rows = snap.rows
                await self.store.save(snap.partition, snap.next_offset, rows.meta, rows.rows)
            except Exception as exc:  # the database may be down: keep the rows for next time
                for unsaved in taken[n:]:
                    unsaved.engine.abandon_snapshot(unsaved.rows)
                log.warning("snapshot of partition %s failed: %s", snap.partition, exc)
                return
        self.metrics.snapshot_seconds.observe(time.perf_counter() - started)

    def _mtime(self) -> float:
        try:
            return Path(self.settings.policy_file).stat().st_mtime
        except OSError:
            return 0.0

    def maybe_reload_policy(self, *, force: bool = False) -> None:
        """Reload the policy when its file changed (or on SIGHUP); a bad file keeps the old one."""
        mtime = self._mtime()
        if not force and mtime == self._policy_mtime:
            return
        self._policy_mtime = mtime
        try:
            policy = load_policy(self.settings.policy_file)
        except (PolicyError, OSError) as exc:
            self.metrics.policy_reloads.labels("refused").inc()
            log.error("policy reload refused; the previous policy stays in force: %s", exc)
            return
        if policy.version == self.policy.version:
            return
        self.policy = policy
        for part in self.parts.values():
            part.engine.set_policy(policy)
        self.metrics.policy_reloads.labels("ok").inc()
        log.info("policy reloaded", extra={"policy_version": policy.version})
