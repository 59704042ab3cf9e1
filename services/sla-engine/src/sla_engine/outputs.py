"""Steps 4 and 5 of the loop: produce a batch's outputs, wait for their acknowledgements, then
commit the batch's offsets, while the loop goes on with the next batch.

One batch's outputs are in flight at a time: the next batch's are handed over only once they
are done, so outputs keep their order, and a snapshot, a revocation or a stop waits for them
(`settle`): nothing is committed or snapshotted before its outputs are acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from sla_edge.retry import retry
from sla_engine.adapters.kafka import send_outbox
from sla_engine.config import EngineSettings
from sla_engine.intake import Outbox
from sla_engine.metrics import EngineMetrics
from sla_engine.ports import Clock, Consumer, Producer

log = logging.getLogger("sla_engine")


class Outputs:
    """Hands each batch's outbox to the producer and commits its offsets once acknowledged."""

    def __init__(
        self,
        settings: EngineSettings,
        producer: Producer,
        consumer: Consumer,
        metrics: EngineMetrics,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.producer = producer
        self.consumer = consumer
        self.metrics = metrics
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    @property
    def settled(self) -> bool:
        """Every output handed over is acknowledged and its offsets committed."""
        return self._task is None or self._task.done()

    async def settle(self) -> None:
        """Wait until the outputs handed over are acknowledged and their offsets committed."""
        if self._task is not None:
            task, self._task = self._task, None
            await task

    async def hand_over(self, outbox: Outbox, commits: dict[TopicPartition, int]) -> None:
        """Settle the batch before, then start this one's produce-and-commit in the background."""
        await self.settle()
        if outbox.events or outbox.dead or commits:
            self._task = asyncio.create_task(self._complete(outbox, commits))

    async def _complete(self, outbox: Outbox, commits: dict[TopicPartition, int]) -> None:
        """Acknowledgements (resending the whole outbox until the broker takes it: ids are
        deterministic, so a resend can only duplicate, never lose), then the offset commit."""
        await self.emit(outbox)
        if commits:
            try:
                await self.consumer.commit(commits)
            except KafkaError as exc:
                # after a rebalance the new owner re-processes; ids make that harmless
                log.warning("offset commit failed: %s", exc)

    async def emit(self, outbox: Outbox) -> None:
        """Produce every output and dead letter; return once all are acknowledged."""
        if not outbox.events and not outbox.dead:
            return

        async def send() -> None:
            futures = await send_outbox(self.producer, self.settings, outbox, self.clock())
            await asyncio.gather(*futures)

        await retry("produce", send, on=KafkaError, first_s=0.2, log=log)
        self._count(outbox)

    def _count(self, outbox: Outbox) -> None:
        metrics = self.metrics
        now = self.clock()
        grace = self.settings.grace_seconds
        for type_, count in Counter(event.type for event in outbox.events).items():
            metrics.emitted.labels(type_).inc(count)
        for event in outbox.events:
            if event.type == "sla.breached":
                data = event.data
                metrics.breaches.labels(data.level, data.metric, data.department or "").inc()
                delay_s = (now - event.time).total_seconds() - grace
                metrics.breach_delay.observe(max(delay_s, 0.0))
