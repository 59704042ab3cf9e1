"""The partitions this replica owns: assignment, restore from the snapshot store, revocation.

On assignment every partition's snapshot is fetched at once (PostgreSQL works on its own core)
and each engine is rebuilt as its snapshot arrives; the consumer is moved back to the snapshot's
offset, and outputs up to the group's committed offset are suppressed (a previous owner emitted
them). A restore that fails (the database out of reach) is retried with backoff: an assigned
partition without its engine would have its records fetched and skipped. On revocation the
partition's state is snapshotted before it leaves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition

from sla_core.partition.engine import PartitionEngine
from sla_core.policy import Policy
from sla_edge.retry import retry
from sla_engine.collector import Collector
from sla_engine.intake import OwnedPartition
from sla_engine.metrics import EngineMetrics
from sla_engine.ports import Consumer, Snapshot, SnapshotStorage
from sla_engine.snapshotting import Snapshots

log = logging.getLogger("sla_engine")


class Partitions(ConsumerRebalanceListener):  # type: ignore[misc]
    """Owned partitions by number, kept by the consumer group's rebalances.

    Every change happens under `lock`, which the loop holds while it applies a batch;
    `rebalances` counts them, so the loop can tell a batch fetched across one.
    """

    def __init__(
        self,
        consumer: Consumer,
        store: SnapshotStorage,
        snapshots: Snapshots,
        policy: Callable[[], Policy],
        future_tolerance: timedelta,
        dedup_window: int,
        metrics: EngineMetrics,
        collector: Collector,
        stopping: asyncio.Event,
    ) -> None:
        self.consumer = consumer
        self.store = store
        self.snapshots = snapshots
        self.policy = policy
        self.future_tolerance = future_tolerance
        self.dedup_window = dedup_window
        self.metrics = metrics
        self.collector = collector
        self.stopping = stopping
        self.parts: dict[int, OwnedPartition] = {}
        self.lock = asyncio.Lock()
        self.rebalances = 0
        self.assigned_once = False
        self.restoring = False
        self.restore_seconds = 0.0  # spent rebuilding engines (for the restart benchmark)
        self._prefetched: dict[int, asyncio.Future[Snapshot | None]] = {}

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        async with self.lock:
            self.rebalances += 1
            gone = [tp.partition for tp in revoked if tp.partition in self.parts]
            await self.snapshots.take(self.parts, force=True, only=gone)
            for partition in gone:
                del self.parts[partition]
                self.metrics.watermark_lag.remove(str(partition))
            log.info("partitions revoked", extra={"partitions": sorted(gone)})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.restoring = True
        try:
            async with self.lock:
                self.rebalances += 1
                ends = await self.consumer.end_offsets(list(assigned)) if assigned else {}
                self._prefetched = {
                    tp.partition: asyncio.ensure_future(self.store.load(tp.partition))
                    for tp in assigned
                }
                try:
                    for tp in assigned:
                        await self.restore_until_done(tp, ends.get(tp, 0))
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

    async def restore_until_done(self, tp: TopicPartition, end_offset: int) -> None:
        """Restore a partition, retrying with backoff while its snapshot is out of reach;
        meanwhile the replica is not ready (`restoring`), and a stop ends the wait."""
        await retry(
            f"restoring partition {tp.partition}",
            lambda: self.restore(tp, end_offset),
            on=Exception,
            stop=self.stopping,
            log=log,
        )

    async def restore(self, tp: TopicPartition, end_offset: int) -> None:
        """Rebuild one partition's engine from its snapshot and seek the consumer to it."""
        started = time.perf_counter()
        policy = self.policy()
        rows: list[Any] = []
        with self.collector.paused():  # millions of new objects, none of them cyclic garbage
            prefetched = self._prefetched.pop(tp.partition, None)
            snapshot = await (prefetched or self.store.load(tp.partition))
            committed = await self.consumer.committed(tp)
            if snapshot is not None:
                offset, meta, rows = snapshot
                engine = PartitionEngine.restore(
                    tp.partition, policy, meta, rows, self.future_tolerance, self.dedup_window
                )
        if snapshot is None:
            offset = 0
            engine = PartitionEngine(
                tp.partition, policy, self.future_tolerance, dedup_window=self.dedup_window
            )
        self.consumer.seek(tp, offset)
        self.parts[tp.partition] = OwnedPartition(
            engine, next_offset=offset, suppress_until=committed or 0, end_offset=end_offset
        )
        seconds = time.perf_counter() - started
        self.restore_seconds += seconds
        log.info(
            "partition restored",
            extra={
                "partition": tp.partition,
                "snapshot_offset": offset,
                "committed_offset": committed,
                "tickets": len(rows),
                "tickets_packed": engine.packed,  # decoded when first needed
                "seconds": round(seconds, 3),
            },
        )
