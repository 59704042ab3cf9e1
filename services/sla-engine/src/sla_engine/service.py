"""The engine's loop: Kafka in, PartitionEngine, Kafka out, snapshots in PostgreSQL.

One batch at a time:

1. fetch a batch of ticket records (getmany);
2. take each record in (`intake`): a bad one is queued for the dead-letter topic, a good one is
   applied to its partition's engine (outputs of records below `suppress_until`, already
   emitted before a restart, are dropped);
3. for every partition that has caught up with its end, advance the watermark to the wall clock
   less the grace (`watermark`), firing the warnings and breaches that fell due;
4. produce every output and dead letter and wait until all are acknowledged (acks=all);
5. only then commit the consumed offsets to Kafka (4 and 5 in the background: `outputs`);
6. every `snapshot_interval_seconds`, write the changed tickets and each partition's committed
   offset to PostgreSQL in one transaction (in the background: `snapshotting`).

A crash anywhere re-processes from the last snapshot, suppressing outputs up to the committed
offset: event ids are deterministic, so at worst a tail of outputs is emitted again with the
same ids. Correctness never rests on producer idempotence. The parts are wired in `bootstrap`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from sla_core.instants import to_us
from sla_core.partition import watermark
from sla_core.policy import Policy
from sla_edge.retry import retry
from sla_engine.adapters.kafka import IdempotenceRefused, start_producer
from sla_engine.collector import Collector
from sla_engine.config import EngineSettings
from sla_engine.intake import Intake, Outbox, admit_records, apply_admitted
from sla_engine.metrics import EngineMetrics
from sla_engine.outputs import Outputs
from sla_engine.partitions import Partitions
from sla_engine.policy_reload import PolicyFile
from sla_engine.ports import Clock, Consumer, Producer, SnapshotStorage
from sla_engine.snapshotting import Snapshots

log = logging.getLogger("sla_engine")


class EngineService:
    """Runs the engine for the partitions this replica owns (built by `bootstrap`)."""

    def __init__(
        self,
        settings: EngineSettings,
        *,
        consumer: Consumer,
        producer: Producer,
        store: SnapshotStorage,
        clock: Clock,
        metrics: EngineMetrics,
        policy_file: PolicyFile,
        partitions: Partitions,
        outputs: Outputs,
        snapshots: Snapshots,
        collector: Collector,
        stopping: asyncio.Event,
        ensure_topics: Callable[[], Awaitable[None]],
    ) -> None:
        self.settings = settings
        self.consumer, self.producer, self.store = consumer, producer, store
        self.clock, self.metrics, self.collector = clock, metrics, collector
        self.policy_file, self.partitions = policy_file, partitions
        self.outputs, self.snapshots = outputs, snapshots
        self.stopping = stopping
        self._ensure_topics = ensure_topics
        self.parts = partitions.parts  # owned partitions by number
        self.problem: str | None = None  # why the service cannot run, for readiness
        self._started = False
        self._grace_us = int(settings.grace_seconds * 1_000_000)
        self._future_reject = timedelta(seconds=settings.future_reject_seconds)

    @property
    def policy(self) -> Policy:
        return self.policy_file.policy

    @property
    def ready(self) -> bool:
        """Ready once the group has assigned partitions and their state is restored."""
        p = self.partitions
        return self._started and p.assigned_once and not p.restoring and self.problem is None

    @property
    def settled(self) -> bool:
        """No batch is being applied and every output handed to the producer is acknowledged
        and its offsets committed (for benchmarks and tests)."""
        return not self.partitions.lock.locked() and self.outputs.settled

    async def start(self) -> None:
        """Connect (retrying while the broker or database is out of reach) and join the group.
        A broker that refuses the producer's settings raises IdempotenceRefused, and readiness
        says why."""
        self.collector.install()
        await self.store.start()
        await self._ensure_topics()
        try:
            await start_producer(self.producer, self.settings)
        except IdempotenceRefused as exc:
            self.problem = str(exc)
            log.error("producer refused: %s", exc)
            raise
        await retry("consumer: broker not reachable", self.consumer.start, on=KafkaError, log=log)
        self.consumer.subscribe([self.settings.ticket_topic], listener=self.partitions)
        self._started = True

    async def stop(self) -> None:
        """Stop consuming, write a last snapshot, close everything."""
        self.stopping.set()
        if self._started:
            async with self.partitions.lock:
                await self.snapshots.take(self.parts, force=True)
            await self.consumer.stop()
            await self.producer.stop()
        await self.policy_file.close()
        await self.store.close()
        self.collector.uninstall()

    async def run(self) -> None:
        """Process until stop() is called."""
        lock = self.partitions.lock
        while not self.stopping.is_set():
            rebalances = self.partitions.rebalances
            try:
                batch = await self.consumer.getmany(
                    timeout_ms=self._wait_ms(), max_records=self.settings.max_batch
                )
            except KafkaError as exc:
                log.warning("fetch failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            if self.stopping.is_set():
                break
            async with lock:
                if rebalances == self.partitions.rebalances:
                    await self.process(batch)
                    if not batch:
                        self._unpack_while_idle()
                else:
                    self._refetch()
            self.reload_policy()
            self.collector.tick()

    async def process(self, batch: dict[TopicPartition, list[Any]]) -> None:
        """Steps 2 to 6 of the module docstring for one fetched batch."""
        started = time.perf_counter()
        wall = self.clock()
        outbox = Outbox()
        commits: dict[TopicPartition, int] = {}
        for tp, records in batch.items():
            part = self.parts.get(tp.partition)
            if part is None:
                continue  # revoked while the batch was in flight: the new owner redoes it
            dead_before, intake = len(outbox.dead), Intake()
            admitted = admit_records(
                tp.topic, part, records, wall, self._future_reject, outbox, intake
            )
            engine = part.engine
            ask = engine.may_be_forgotten(event for _, event in admitted)
            engine.forgotten_known = await self._forgotten(tp.partition, ask) if ask else set()
            apply_admitted(tp.topic, part, admitted, wall, outbox, intake)
            engine.forgotten_known = set()
            self._count(intake.consumed, intake.unknown_types, intake.clamped)
            for calendar, fallbacks in intake.zone_fallbacks.items():
                self.metrics.timezone_fallbacks.labels(calendar).inc(fallbacks)
            for dead in outbox.dead[dead_before:]:
                self._count_dead_letter(tp.partition, dead.record, dead.error)
            commits[tp] = part.next_offset
        self._advance_caught_up(outbox)
        await self.outputs.hand_over(outbox, commits)
        parts = self.parts.values()
        self.metrics.open_timers.set(sum(p.engine.open_timers for p in parts))
        self.metrics.tickets_packed.set(sum(p.engine.packed for p in parts))
        held = {self.policy.version}.union(*(p.engine.held_versions for p in parts))
        self.metrics.policy_versions_held.set(len(held))
        if batch:
            self.metrics.processing.observe(time.perf_counter() - started)
        await self.snapshots.take(self.parts)

    async def _forgotten(self, partition: int, ticket_ids: set[str]) -> set[str]:
        """Which of the tickets the store has forgotten (rare: see may_be_forgotten); the
        partition waits while the database is out of reach, rather than guess."""
        return await retry(
            "looking up forgotten tickets",
            lambda: self.store.forgotten(partition, ticket_ids),
            on=Exception,
            stop=self.stopping,
            log=log,
        )

    def _advance_caught_up(self, outbox: Outbox) -> None:
        """Step 3: the watermark of every caught-up partition follows the wall clock."""
        now_us = to_us(self.clock())
        topic = self.settings.ticket_topic
        for partition, part in self.parts.items():
            end = self.consumer.highwater(TopicPartition(topic, partition))
            engine = part.engine
            if watermark.caught_up(part.next_offset, end or part.end_offset, part.suppress_until):
                wm = watermark.live_watermark_us(engine.max_event_us, now_us, self._grace_us)
                outbox.events.extend(engine.advance(wm))
            lag = watermark.lag_seconds(now_us, engine.watermark_us)
            self.metrics.watermark_lag.labels(str(partition)).set(lag)

    def _wait_ms(self) -> int:
        """Sleep no longer than until the earliest alarm can fire (its instant plus the grace)."""
        wait_ms = 200
        now_us = to_us(self.clock())
        for part in self.parts.values():
            alarm = part.engine.next_alarm_us()
            if alarm is not None:
                wait_ms = min(wait_ms, (alarm + self._grace_us - now_us) // 1000 + 1)
        return max(wait_ms, 1)

    def _refetch(self) -> None:
        """Drop a batch fetched across a rebalance and fetch again from where each engine is.

        Such a batch may start at the group's committed offset, past the snapshot offset a
        partition was just restored to: applying it would skip the records in between, and the
        restored state would silently miss them (a lost event, a missed breach).
        """
        topic = self.settings.ticket_topic
        for partition, part in self.parts.items():
            self.consumer.seek(TopicPartition(topic, partition), part.next_offset)

    def _unpack_while_idle(self, budget_s: float = 0.01) -> None:
        """Decode a few milliseconds' worth of the restored tickets still packed: with nothing
        fetched, the loop has the time, and a ticket decoded now costs nothing when its event
        or its alarm comes (see PartitionEngine.restore)."""
        deadline = time.perf_counter() + budget_s
        for part in self.parts.values():
            while part.engine.packed and time.perf_counter() < deadline:
                part.engine.unpack_some(100)

    def reload_policy(self, *, force: bool = False) -> None:
        """Reload the policy when its file changed (or on SIGHUP); a bad file keeps the old one.
        The new version joins those each partition holds (`PartitionEngine.set_policy`)."""
        policy = self.policy_file.reload(force=force)
        if policy is not None:
            for part in self.parts.values():
                part.engine.set_policy(policy)

    def _count(self, consumed: Any, unknown_types: int, clamped: int) -> None:
        metrics = self.metrics
        for type_, count in consumed.items():
            metrics.consumed.labels(type_).inc(count)
        if unknown_types:
            metrics.rejected.labels("unknown_type").inc(unknown_types)
        if clamped:
            metrics.future_clamped.inc(clamped)

    def _count_dead_letter(self, partition: int, record: Any, error: Any) -> None:
        """Count and log once a record queued for the dead-letter topic."""
        self.metrics.rejected.labels(error.reason).inc()
        self.metrics.dead_letters.labels(error.reason).inc()
        log.warning(
            "dead-lettered record",
            extra={
                "partition": partition,
                "offset": record.offset,
                "reason": error.reason,
                "error": str(error),
            },
        )
