"""The one place the engine is wired: settings in, a ready-to-start EngineService out.

Production passes nothing but the settings and gets the real clients (aiokafka, asyncpg); tests
pass fakes for the consumer, the producer, the snapshot store and the clock. Call it inside a
running event loop (aiokafka's clients bind to it when built). Nothing connects here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sla_engine.adapters import kafka
from sla_engine.adapters.policy_registry import PolicyRegistry
from sla_engine.adapters.snapshots import SnapshotStore
from sla_engine.collector import Collector
from sla_engine.config import EngineSettings
from sla_engine.metrics import EngineMetrics
from sla_engine.outputs import Outputs
from sla_engine.partitions import Partitions
from sla_engine.policy_reload import PolicyFile
from sla_engine.ports import Clock, Consumer, PolicyRegistryPort, Producer, SnapshotStorage
from sla_engine.service import EngineService
from sla_engine.snapshotting import Snapshots


def wall_clock() -> datetime:
    return datetime.now(UTC)


def bootstrap(
    settings: EngineSettings,
    *,
    consumer: Consumer | None = None,
    producer: Producer | None = None,
    store: SnapshotStorage | None = None,
    clock: Clock = wall_clock,
    metrics: EngineMetrics | None = None,
    ensure_topics: Callable[[], Awaitable[None]] | None = None,
    registry: PolicyRegistryPort | None = None,
) -> EngineService:
    """Build the engine's parts and wire them; a bad policy file raises PolicyError here.

    The policy registry defaults to PostgreSQL's when the snapshot store does (production and
    tests against the real database); tests with a fake store get none unless they pass one."""
    metrics = metrics or EngineMetrics()
    if registry is None and store is None:
        registry = PolicyRegistry(settings.database_url)
    policy_file = PolicyFile(settings.policy_file, metrics, registry)
    consumer = consumer if consumer is not None else kafka.create_consumer(settings)
    producer = producer if producer is not None else kafka.create_producer(settings)
    if store is None:
        store = SnapshotStore(
            settings.database_url, settings.engine_group_id, settings.ticket_topic
        )
    if ensure_topics is None:

        async def ensure_topics() -> None:
            await kafka.ensure_topics(settings)

    stopping = asyncio.Event()
    collector = Collector()
    outputs = Outputs(settings, producer, consumer, metrics, clock)
    snapshots = Snapshots(store, settings.snapshot_interval_seconds, metrics, outputs.settle)
    partitions = Partitions(
        consumer,
        store,
        snapshots,
        lambda: policy_file.policy,
        timedelta(seconds=settings.future_tolerance_seconds),
        settings.dedup_window_events,
        metrics,
        collector,
        stopping,
    )
    return EngineService(
        settings,
        consumer=consumer,
        producer=producer,
        store=store,
        clock=clock,
        metrics=metrics,
        policy_file=policy_file,
        partitions=partitions,
        outputs=outputs,
        snapshots=snapshots,
        collector=collector,
        stopping=stopping,
        ensure_topics=ensure_topics,
    )
