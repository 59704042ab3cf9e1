"""Kafka at the engine's edge: the clients, the topics, record batches, dead-letter headers.

SLA events go out as one record batch per topic partition (aiokafka's `send_batch`),
partitioned by key exactly as the default partitioner would: a fraction of the per-send
overhead, which dominated the engine's loop. Dead letters, rare and possibly large, go one by
one, with Kafka Connect's `__connect.errors.*` headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaError,
    TopicAlreadyExistsError,
    UnknownError,
    UnsupportedVersionError,
)
from aiokafka.partitioner import murmur2

from sla_core.codec import MAX_EVENT_BYTES, DecodeError, encode_sla_event
from sla_edge.retry import retry
from sla_engine.config import EngineSettings
from sla_engine.intake import Outbox
from sla_engine.ports import Producer

log = logging.getLogger("sla_engine")

CONTENT_TYPE = ("content-type", b"application/cloudevents+json")
_HEADERS = [CONTENT_TYPE]  # shared by every record of a batch: read, never changed


def create_producer(settings: EngineSettings) -> AIOKafkaProducer:
    """The producer (acks=all; idempotence as configured), not started."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        linger_ms=5,
        max_batch_size=256 * 1024,
        request_timeout_ms=30000,
    )


def create_consumer(settings: EngineSettings) -> AIOKafkaConsumer:
    """The group consumer (offsets committed by the engine after acknowledgements), not started."""
    s = settings
    return AIOKafkaConsumer(
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


# what a reachable broker answers InitProducerId with when it will not give an idempotent
# producer an id: no retry changes that
_REFUSALS = (UnknownError, UnsupportedVersionError, ClusterAuthorizationFailedError)


class IdempotenceRefused(RuntimeError):
    """The broker answers but refuses an idempotent producer (InitProducerId)."""


async def start_producer(producer: Producer, settings: EngineSettings) -> None:
    """Start the producer, retrying while the broker is out of reach.

    A broker that is reachable but refuses idempotent producers (tansu, the pip dev broker,
    answers InitProducerId with an unknown error) is no outage: retrying cannot help, so it
    raises IdempotenceRefused at once, naming the setting that fixes it.
    """

    async def attempt() -> None:
        try:
            await producer.start()
        except _REFUSALS as exc:
            if settings.kafka_idempotence:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise IdempotenceRefused(
                    f"the broker at {settings.kafka_bootstrap_servers} is reachable but refused "
                    f"an idempotent producer ({exc}); set SLA_KAFKA_IDEMPOTENCE=false for a broker "
                    "without InitProducerId (correctness does not rest on idempotence)"
                ) from exc
            raise

    await retry("producer: broker not reachable", attempt, on=KafkaError, log=log)


async def ensure_topics(settings: EngineSettings) -> None:
    """Create the engine's topics when missing (a broker with auto-create off needs this)."""
    s = settings
    admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap_servers)
    await retry("admin: broker not reachable", admin.start, on=KafkaError, log=log)
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


@lru_cache(maxsize=1 << 16)
def key_hash(key: bytes) -> int:
    """murmur2 of a record key as Kafka's default partitioner takes it (pure Python in aiokafka,
    so cached: a ticket's events come together)."""
    return int(murmur2(key)) & 0x7FFFFFFF


class RecordBatches:
    """Record batches being filled, one per topic partition, for `send_batch`."""

    def __init__(self, producer: Producer) -> None:
        self.producer = producer
        self.partitions: dict[str, list[int]] = {}
        self.open: dict[tuple[str, int], Any] = {}
        self.futures: list[asyncio.Future[Any]] = []

    async def prepare(self, topic: str) -> None:
        """Learn the topic's partitions (before `add`)."""
        if topic not in self.partitions:
            self.partitions[topic] = sorted(await self.producer.partitions_for(topic))

    def _slot(self, topic: str, key: bytes) -> tuple[str, int]:
        partitions = self.partitions[topic]
        return topic, partitions[key_hash(key) % len(partitions)]

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

    async def flush(self) -> list[asyncio.Future[Any]]:
        for (topic, partition), batch in self.open.items():
            self.futures.append(await self.producer.send_batch(batch, topic, partition=partition))
        self.open.clear()
        return self.futures


async def send_outbox(
    producer: Producer, settings: EngineSettings, outbox: Outbox, emitted_at: datetime
) -> list[asyncio.Future[Any]]:
    """Hand the outbox to the producer; the futures of its acknowledgements."""
    s = settings
    batches = RecordBatches(producer)
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
        record = dead.record
        value, headers = record.value, dead_letter_headers(record, dead.topic, dead.error)
        if value is not None and len(value) > MAX_EVENT_BYTES:
            # the producer (and a broker's default message.max.bytes) refuses it whole, and
            # resending it forever would block the partition: keep its head and its size
            headers.append(("__connect.errors.value.truncated", str(len(value)).encode()))
            value = value[:MAX_EVENT_BYTES]
        futures.append(await producer.send(s.dlq_topic, value, key=record.key, headers=headers))
    return futures
