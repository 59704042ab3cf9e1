"""The engine service on the real broker and PostgreSQL: throughput against a bare relay, and
restart to ready with a snapshot of open timers.

Throughput. One input topic (3 partitions) holds N ticket events (created, answered, closed per
ticket, keyed by ticket). The relay is the physical ceiling of our client stack: an aiokafka
consumer group that fetches a batch, produces one message per input (acks=all), waits for the
acknowledgements and commits, with the engine's own client settings. The engine is EngineService
as `sla-engine run` wires it (snapshots to PostgreSQL included). Each run uses a fresh group and
is timed from partition assignment to the last offset processed and committed, so the group join
(about the session timeout on this broker) is left out of both. Runs alternate relay and engine.

Restart. N open timers (two per ticket, spread over 3 partitions) are written as snapshot rows;
then a fresh EngineService is started and timed until it reports ready (group joined, every
partition restored). The reference is the bare fetch of the same rows from PostgreSQL. A restored
ticket stays in its snapshot form until an event or its earliest alarm needs it (see
sla_core.partition.engine), so the details also give what decoding every ticket at once costs after
ready: the work the restore deferred, spread over the first touches. The value is measured with
`Profile.forgotten_rows` tickets forgotten behind the snapshot (table engine_forgotten, SPEC 10),
in a second consumer group holding a copy of the same rows; the details give the restart of the
first group, without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench import workload
from bench.harness import Goal, Metric, Profile
from bench.servers import servers
from sla_core.codec import encode_ticket_event
from sla_core.partition.engine import PartitionEngine
from sla_devtools.infra import Infra
from sla_engine.adapters.snapshots import SnapshotStore
from sla_engine.bootstrap import bootstrap
from sla_engine.config import EngineSettings

METRICS = ("engine_throughput_vs_relay", "restart_ready_seconds")
PARTITIONS = 3
SESSION_MS = 3000
RESTART_ROUNDS = 2  # restarts without and with forgotten tickets, alternated
EVENT_TYPES = ("ticket.created", "ticket.answered", "ticket.closed")


def settings_for(infra: Infra, policy_file: Path, input_topic: str, tag: str) -> EngineSettings:
    return EngineSettings(
        kafka_bootstrap_servers=infra.bootstrap_servers,
        database_url=infra.database_url,
        policy_file=policy_file,
        ticket_topic=input_topic,
        events_topic=f"sla-{tag}",
        breach_topic=f"breaches-{tag}",
        dlq_topic=f"dlq-{tag}",
        engine_group_id=f"engine-{tag}",
        kafka_idempotence=False,
        topic_partitions=PARTITIONS,
        kafka_session_timeout_ms=SESSION_MS,
        kafka_rebalance_timeout_ms=SESSION_MS,
    )


async def create_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        await admin.close()


def input_event(n: int, start: datetime) -> tuple[str, bytes]:
    """The `n`th event of the input (ticket id, record value): three per ticket, created,
    answered and closed, a millisecond apart from `start`."""
    ticket, kind = divmod(n, 3)
    ticket_id = f"t{ticket}"
    return ticket_id, encode_ticket_event(
        event_id=f"{ticket_id}-{kind}",
        source="bench",
        type=EVENT_TYPES[kind],
        time=start + timedelta(milliseconds=n),
        ticket_id=ticket_id,
        data={"ticket": {"department": workload.DEPARTMENTS[ticket % 3]}},
    )


async def produce_input(bootstrap: str, topic: str, events: int) -> None:
    """`events` ticket events, three per ticket, recent enough that no timer falls due."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        start = datetime.now(UTC) - timedelta(minutes=5)
        futures = []
        for n in range(events):
            ticket_id, value = input_event(n, start)
            futures.append(await producer.send(topic, value, key=ticket_id.encode()))
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


class _Assigned(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.at: float | None = None

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if assigned and self.at is None:
            self.at = time.perf_counter()


async def relay_run(bootstrap: str, topic: str, events: int, tag: str) -> float:
    """Seconds from assignment to `events` records relayed and committed."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"relay-{tag}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=2000,
        fetch_max_wait_ms=50,
        session_timeout_ms=SESSION_MS,
        heartbeat_interval_ms=SESSION_MS // 10,
        rebalance_timeout_ms=SESSION_MS,
    )
    listener = _Assigned()
    await producer.start()
    await consumer.start()
    consumer.subscribe([topic], listener=listener)
    out_topic = f"relay-out-{tag}"
    done = 0
    try:
        while done < events:
            batch = await consumer.getmany(timeout_ms=200, max_records=2000)
            futures = []
            commits = {}
            for tp, records in batch.items():
                for record in records:
                    futures.append(await producer.send(out_topic, record.value, key=record.key))
                commits[tp] = records[-1].offset + 1
                done += len(records)
            await asyncio.gather(*futures)
            if commits:
                await consumer.commit(commits)
        assert listener.at is not None
        return time.perf_counter() - listener.at
    finally:
        await consumer.stop()
        await producer.stop()


async def engine_run(settings: EngineSettings, events: int) -> float:
    """Seconds from the service being ready to `events` records processed, their outputs
    acknowledged and their offsets committed."""
    service = bootstrap(settings)
    await service.start()
    task = asyncio.create_task(service.run())
    try:
        while not service.ready:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
        started = time.perf_counter()
        while True:
            consumed = sum(p.next_offset for p in service.parts.values())
            if consumed >= events and service.settled:
                return time.perf_counter() - started
            if task.done():
                task.result()
                raise RuntimeError("engine stopped early")
            await asyncio.sleep(0.005)
    finally:
        await service.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def throughput(infra: Infra, policy_file: Path, profile: Profile) -> Metric:
    n = profile.kafka_events - profile.kafka_events % 3
    topic = f"tickets-{uuid.uuid4().hex[:8]}"
    await create_topics(infra.bootstrap_servers, topic)
    await produce_input(infra.bootstrap_servers, topic, n)
    repeats = max(2, profile.repeats // 2)
    relay_s: list[float] = []
    engine_s: list[float] = []
    for _ in range(repeats):
        tag = uuid.uuid4().hex[:8]
        await create_topics(infra.bootstrap_servers, f"relay-out-{tag}")
        relay_s.append(await relay_run(infra.bootstrap_servers, topic, n, tag))
        settings = settings_for(infra, policy_file, topic, tag)
        engine_s.append(await engine_run(settings, n))
    value = n / statistics.median(engine_s)
    reference = n / statistics.median(relay_s)
    return Metric(
        name="engine_throughput_vs_relay",
        value=value,
        unit="events/s",
        reference=reference,
        reference_label="bare aiokafka relay events/s",
        goal=Goal("ratio", ">=", 0.7),
        details={
            "events": n,
            "partitions": PARTITIONS,
            "repeats": repeats,
            "engine_events_per_s_runs": [round(n / s) for s in engine_s],
            "relay_events_per_s_runs": [round(n / s) for s in relay_s],
            "input": "created, answered, closed per ticket",
        },
    )


# ---- restart ------------------------------------------------------------------------------------


async def write_snapshots(settings: EngineSettings, timers: int) -> int:
    """Snapshot rows for `timers` open timers over PARTITIONS partitions; returns the tickets."""
    store = SnapshotStore(settings.database_url, settings.engine_group_id, settings.ticket_topic)
    await store.start()
    policy = workload.policy()
    tickets = timers // workload.TIMERS_PER_TICKET
    first_due = datetime.now(UTC) + timedelta(hours=1)
    chunk = 50_000
    try:
        for partition in range(PARTITIONS):
            engine = PartitionEngine(partition, policy)
            count = tickets // PARTITIONS + (1 if partition < tickets % PARTITIONS else 0)
            events = workload.tickets_due_in(
                count, first_due, timedelta(minutes=10), prefix=f"p{partition}-"
            )
            for n, event in enumerate(events):
                engine.handle(event, event.time)
                if len(engine.dirty) >= chunk or n == count - 1:
                    await store.save(partition, 0, engine.meta(), engine.take_dirty())
    finally:
        await store.close()
    return tickets


async def fetch_rows(settings: EngineSettings) -> tuple[float, int]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        started = time.perf_counter()
        count = 0
        for partition in range(PARTITIONS):
            rows = await conn.fetch(
                "SELECT ticket_id, state, alarm_us, running FROM engine_tickets"
                " WHERE group_id = $1 AND topic = $2 AND partition = $3",
                settings.engine_group_id,
                settings.ticket_topic,
                partition,
            )
            count += len(rows)
        return time.perf_counter() - started, count
    finally:
        await conn.close()


async def copy_snapshot(source: EngineSettings, target: EngineSettings) -> None:
    """The snapshot of `source`'s group, written again for `target`'s group (same topic)."""
    conn = await asyncpg.connect(source.database_url)
    try:
        for table, columns in (
            ("engine_tickets", "topic, partition, ticket_id, state, alarm_us, running"),
            ("engine_partitions", "topic, partition, next_offset, meta"),
        ):
            await conn.execute(
                f"INSERT INTO {table} (group_id, {columns})"
                f" SELECT $1, {columns} FROM {table} WHERE group_id = $2 AND topic = $3",
                target.engine_group_id,
                source.engine_group_id,
                source.ticket_topic,
            )
    finally:
        await conn.close()


async def write_forgotten(settings: EngineSettings, count: int) -> tuple[float, int, int]:
    """`count` engine_forgotten rows for the group and topic, spread over the partitions, ids
    distinct from the snapshot's tickets (COPY); seconds taken, rows for the group, table bytes."""
    conn = await asyncpg.connect(settings.database_url)
    group, topic = settings.engine_group_id, settings.ticket_topic
    try:
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "engine_forgotten",
            records=((group, topic, n % PARTITIONS, f"gone-{n}") for n in range(count)),
            columns=["group_id", "topic", "partition", "ticket_id"],
        )
        await conn.execute("ANALYZE engine_forgotten")
        copy_s = time.perf_counter() - started
        rows = await conn.fetchval(
            "SELECT count(*) FROM engine_forgotten WHERE group_id = $1 AND topic = $2",
            group,
            topic,
        )
        size = await conn.fetchval("SELECT pg_total_relation_size('engine_forgotten')")
        return copy_s, int(rows), int(size)
    finally:
        await conn.close()


async def time_restart(settings: EngineSettings) -> tuple[float, float, list[PartitionEngine]]:
    """A fresh EngineService from bootstrap to ready: (seconds, restore seconds, engines)."""
    started = time.perf_counter()
    service = bootstrap(settings)
    await service.start()
    task = asyncio.create_task(service.run())
    try:
        while not service.ready:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        ready_s = time.perf_counter() - started
        engines = [p.engine for p in service.parts.values()]
        restore_s = service.partitions.restore_seconds
    finally:
        await service.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return ready_s, restore_s, engines


async def restart(infra: Infra, policy_file: Path, profile: Profile) -> Metric:
    """Restart to ready with the snapshot of `profile.timers` open timers, and with the same
    snapshot plus `profile.forgotten_rows` forgotten tickets in engine_forgotten (SPEC 10): two
    consumer groups on one topic, restarted in turn; the median with forgotten tickets is the
    metric's value."""
    tag = uuid.uuid4().hex[:8]
    topic = f"restart-{tag}"
    plain = settings_for(infra, policy_file, topic, tag)
    with_forgotten = settings_for(infra, policy_file, topic, f"{tag}f")
    await create_topics(infra.bootstrap_servers, topic)
    tickets = await write_snapshots(plain, profile.timers)
    await copy_snapshot(plain, with_forgotten)
    copy_s, forgotten_rows, forgotten_bytes = await write_forgotten(
        with_forgotten, profile.forgotten_rows
    )
    fetch_s, rows = await fetch_rows(plain)
    # alternated, twice each, so that neither side has the first or the last turn only
    runs: dict[str, list[tuple[float, float]]] = {"without": [], "with": []}
    engines: list[PartitionEngine] = []
    forgotten_engines: list[PartitionEngine] = []
    for _ in range(RESTART_ROUNDS):
        plain_s, plain_restore_s, plain_engines = await time_restart(plain)
        runs["without"].append((plain_s, plain_restore_s))
        engines = engines or plain_engines
        ready_s, restore_s, forgotten_engines = await time_restart(with_forgotten)
        runs["with"].append((ready_s, restore_s))
    ready_s = statistics.median(r for r, _ in runs["with"])
    restore_s = statistics.median(r for _, r in runs["with"])
    plain_s = statistics.median(r for r, _ in runs["without"])
    plain_restore_s = statistics.median(r for _, r in runs["without"])
    # what the restore left for later: each ticket is decoded when first needed; all at once:
    open_timers = sum(e.open_timers for e in forgotten_engines)
    packed = sum(e.packed for e in engines)
    decode_started = time.perf_counter()
    for engine in engines:
        engine.unpack_all()
    decode_s = time.perf_counter() - decode_started
    return Metric(
        name="restart_ready_seconds",
        value=ready_s,
        unit="s",
        reference=fetch_s,
        reference_label="s to fetch the same snapshot rows with asyncpg",
        goal=Goal("value", "<=", 15),
        details={
            "open_timers_restored": open_timers,
            "tickets": tickets,
            "forgotten_rows_behind_snapshot": forgotten_rows,
            "rows_fetched_by_reference": rows,
            "restore_seconds": round(restore_s, 2),
            "join_and_start_seconds": round(ready_s - restore_s, 2),
            "without_forgotten_ready_seconds": round(plain_s, 2),
            "without_forgotten_restore_seconds": round(plain_restore_s, 2),
            "without_forgotten_join_and_start_seconds": round(plain_s - plain_restore_s, 2),
            "forgotten_copy_seconds": round(copy_s, 2),
            "engine_forgotten_table_mib": round(forgotten_bytes / 2**20, 1),
            "tickets_left_packed": packed,
            "decoding_them_all_later_seconds": round(decode_s, 2),
            "session_timeout_ms": SESSION_MS,
            "ready_seconds_runs": [round(r, 2) for r, _ in runs["with"]],
            "without_forgotten_ready_seconds_runs": [round(r, 2) for r, _ in runs["without"]],
            "order": "without, with, without, with (separate groups, same topic and snapshot"
            " rows; medians)",
        },
    )


async def _run(profile: Profile, wanted: set[str]) -> list[Metric]:
    out: list[Metric] = []
    with servers() as infra, tempfile.TemporaryDirectory() as tmp:
        policy_file = Path(tmp) / "policy.yaml"
        policy_file.write_text(workload.POLICY)
        if "engine_throughput_vs_relay" in wanted:
            out.append(await throughput(infra, policy_file, profile))
        if "restart_ready_seconds" in wanted:
            out.append(await restart(infra, policy_file, profile))
    return out


def run(profile: Profile, wanted: set[str]) -> list[Metric]:
    return asyncio.run(_run(profile, wanted))
