"""The engine against the real broker and PostgreSQL: ticket events in, SLA events out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka.partitioner import DefaultPartitioner

from sla_devtools.infra import Infra
from sla_engine.bootstrap import bootstrap
from sla_engine.config import EngineSettings
from sla_engine.service import EngineService
from tests.support.kafka import TicketProducer, TopicReader, create_topics

POLICY = """
levels:
  fast:
    targets: {first_answer: 2s, next_answer: 2s, resolution: 1h}
    warnings: ["50%"]
default_level: fast
"""


def settings_for(infra: Infra, unique: str, policy: Path, **extra: Any) -> EngineSettings:
    return EngineSettings(
        kafka_bootstrap_servers=infra.bootstrap_servers,
        database_url=infra.database_url,
        policy_file=policy,
        ticket_topic=f"tickets-{unique}",
        events_topic=f"sla-{unique}",
        breach_topic=f"breaches-{unique}",
        dlq_topic=f"dlq-{unique}",
        engine_group_id=f"engine-{unique}",
        grace_seconds=0.2,
        snapshot_interval_seconds=0.3,
        kafka_idempotence=False,
        topic_partitions=3,
        kafka_session_timeout_ms=3000,
        kafka_rebalance_timeout_ms=3000,
        **extra,
    )


@contextlib.asynccontextmanager
async def running(settings: EngineSettings) -> AsyncIterator[EngineService]:
    service = bootstrap(settings)
    await service.start()
    task = asyncio.create_task(service.run())
    try:
        for _ in range(200):
            if service.ready:
                break
            await asyncio.sleep(0.05)
        yield service
    finally:
        await service.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return path


def now() -> datetime:
    return datetime.now(UTC)


def of_type(events: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == type_]


async def test_live_ticket_breaches_on_the_breach_topic_and_answered_one_fulfils(
    infra: Infra, unique: str, policy_file: Path
) -> None:
    s = settings_for(infra, unique, policy_file)
    await create_topics(infra.bootstrap_servers, s.ticket_topic, partitions=3)
    async with running(s), TicketProducer(s.kafka_bootstrap_servers, s.ticket_topic) as p:
        t = now()
        await p.send("ticket.created", t, "late-1", ticket={"department": "support"})
        await p.send("ticket.created", t, "ok-1", ticket={"department": "sales"})
        await p.send("ticket.answered", t + timedelta(seconds=1), "ok-1")
        async with TopicReader(s.kafka_bootstrap_servers, s.breach_topic) as breaches:
            seen = await breaches.wait_for(lambda es: of_type(es, "sla.breached") != [])
        breach = of_type(seen, "sla.breached")[0]
        assert breach["subject"] == "late-1"
        assert breach["data"]["metric"] == "first_answer"
        assert breach["data"]["department"] == "support"
        assert breach["time"] == breach["data"]["due_at"]
        assert {e["type"] for e in seen} <= {"sla.warning", "sla.breached"}
        async with TopicReader(s.kafka_bootstrap_servers, s.events_topic) as events:
            all_events = await events.wait_for(lambda es: of_type(es, "sla.fulfilled") != [])
        fulfilled = of_type(all_events, "sla.fulfilled")[0]
        assert fulfilled["subject"] == "ok-1"
        assert fulfilled["data"]["elapsed_seconds"] == pytest.approx(1.0, abs=0.01)
        # batches are partitioned by key as any Kafka client would (murmur2), so each ticket's
        # SLA events share one partition, in order
        partitioner = DefaultPartitioner()
        for record in events.records:
            assert record.partition == partitioner(record.key, [0, 1, 2], [0, 1, 2])
            assert list(record.headers) == [("content-type", b"application/cloudevents+json")]


async def test_bad_records_go_to_the_dead_letter_topic_and_valid_ones_still_flow(
    infra: Infra, unique: str, policy_file: Path
) -> None:
    s = settings_for(infra, unique, policy_file)
    await create_topics(infra.bootstrap_servers, s.ticket_topic, partitions=1)
    async with (
        running(s) as service,
        TicketProducer(s.kafka_bootstrap_servers, s.ticket_topic) as p,
    ):
        await p.raw(b"{not json", b"k1")
        await p.raw(b'{"specversion": "1.0", "id": "x"}', b"k2")
        await p.raw(b"\xff\xfe", b"k3")
        await p.send("ticket.created", now(), "good-1")
        await p.raw(
            b'{"ticket": {}}',
            b"k4",
            headers=[
                ("ce_specversion", b"1.0"),
                ("ce_id", b"b1"),
                ("ce_source", b"s"),
                ("ce_type", b"ticket.created"),
                ("ce_time", b"yesterday"),
                ("ce_subject", b"k4"),
            ],
        )
        await p.raw(
            b'{"ticket": {"department": "binary"}}',
            b"bin-1",
            headers=[
                ("ce_specversion", b"1.0"),
                ("ce_id", b"b2"),
                ("ce_source", b"s"),
                ("ce_type", b"ticket.created"),
                ("ce_time", now().isoformat().encode()),
                ("ce_subject", b"bin-1"),
            ],
        )
        async with TopicReader(s.kafka_bootstrap_servers, s.dlq_topic) as dlq:
            await dlq.wait_for(lambda es: len(dlq.records) >= 4)
            records = dlq.records
        reasons = {r.key: dict(r.headers)["__connect.errors.reason"] for r in records}
        assert reasons == {
            b"k1": b"not_json",
            b"k2": b"missing_attribute",
            b"k3": b"bad_encoding",
            b"k4": b"bad_time",
        }
        first = next(r for r in records if r.key == b"k1")
        headers = dict(first.headers)
        assert first.value == b"{not json" and first.key == b"k1"
        assert headers["__connect.errors.topic"] == s.ticket_topic.encode()
        assert headers["__connect.errors.offset"] == b"0"
        assert headers["__connect.errors.partition"] == b"0"
        async with TopicReader(s.kafka_bootstrap_servers, s.events_topic) as events:
            await events.wait_for(
                lambda es: {e["subject"] for e in of_type(es, "sla.started")} == {"good-1", "bin-1"}
            )
        assert service.metrics.dead_letters.labels("not_json")._value.get() == 1


async def test_restart_resumes_from_the_snapshot_without_losing_or_reordering(
    infra: Infra, unique: str, policy_file: Path
) -> None:
    s = settings_for(infra, unique, policy_file)
    await create_topics(infra.bootstrap_servers, s.ticket_topic, partitions=3)
    t = now()
    async with TicketProducer(s.kafka_bootstrap_servers, s.ticket_topic) as p:
        async with running(s):
            for i in range(10):
                await p.send("ticket.created", t, f"r-{i}")
            async with TopicReader(s.kafka_bootstrap_servers, s.events_topic) as events:
                await events.wait_for(lambda es: len(of_type(es, "sla.breached")) == 10)
        for i in range(10):
            await p.send("ticket.answered", t + timedelta(seconds=1), f"r-{i}")  # late: corrects
        async with running(s), TopicReader(s.kafka_bootstrap_servers, s.events_topic) as events:
            seen = await events.wait_for(lambda es: len(of_type(es, "sla.fulfilled")) == 10)
    fulfilled = of_type(seen, "sla.fulfilled")
    assert all(e["data"]["corrects_breach"] for e in fulfilled)
    ids = [e["id"] for e in seen]
    started = of_type(seen, "sla.started")
    assert len(started) == 20  # first_answer and resolution per ticket, never re-emitted
    assert len(ids) == len(set(ids))


async def test_a_restored_replica_decodes_its_untouched_tickets_while_idle(
    infra: Infra, unique: str, tmp_path: Path
) -> None:
    policy = tmp_path / "slow.yaml"
    policy.write_text("levels:\n  slow:\n    targets: {first_answer: 1h}\ndefault_level: slow\n")
    s = settings_for(infra, unique, policy)
    await create_topics(infra.bootstrap_servers, s.ticket_topic, partitions=3)
    async with (
        TicketProducer(s.kafka_bootstrap_servers, s.ticket_topic) as p,
        running(s),
        TopicReader(s.kafka_bootstrap_servers, s.events_topic) as events,
    ):
        for i in range(6):
            await p.send("ticket.created", now(), f"idle-{i}")
        await events.wait_for(lambda es: len(of_type(es, "sla.started")) == 6)
    async with running(s) as service:  # no event and no alarm needs them: only idleness
        assert service.ready
        gauge = service.metrics.registry.get_sample_value
        for _ in range(100):
            if all(p.engine.packed == 0 for p in service.parts.values()) and (
                gauge("sla_engine_tickets_packed") == 0
            ):
                break
            await asyncio.sleep(0.05)
        assert gauge("sla_engine_tickets_packed") == 0
        engines = [part.engine for part in service.parts.values()]
        assert sum(e.packed for e in engines) == 0
        assert sorted(t for e in engines for t in e.tickets) == [f"idle-{i}" for i in range(6)]
        assert sum(e.open_timers for e in engines) == 6


async def test_a_forgotten_ticket_stays_forgotten_after_a_restart_one_in_its_window_reopens(
    infra: Infra, unique: str, tmp_path: Path
) -> None:
    """SPEC section 10 on the real broker and PostgreSQL: a ticket closed longer ago than the
    reopen window is forgotten (its snapshot row goes, its id is kept in engine_forgotten); after
    a restart a reopen of it is dead-lettered as forgotten, while a ticket still within its
    window reopens with fresh timer ids."""
    policy = tmp_path / "window.yaml"
    policy.write_text(
        "levels:\n  std:\n    targets: {first_answer: 1h, next_answer: 1h}\n"
        "default_level: std\npolicy: {reopen_window: 1h}\n"
    )
    s = settings_for(infra, unique, policy)
    await create_topics(infra.bootstrap_servers, s.ticket_topic, partitions=3)
    t = now()
    async with TicketProducer(s.kafka_bootstrap_servers, s.ticket_topic) as p:
        async with running(s), TopicReader(s.kafka_bootstrap_servers, s.events_topic) as events:
            await p.send("ticket.created", t - timedelta(hours=3), "gone")
            await p.send("ticket.closed", t - timedelta(hours=2), "gone")  # window over at t - 1h
            await p.send("ticket.created", t - timedelta(minutes=10), "kept")
            await p.send("ticket.closed", t - timedelta(minutes=5), "kept")
            await events.wait_for(lambda es: len(of_type(es, "sla.fulfilled")) == 2)
            conn = await asyncpg.connect(infra.database_url)
            try:
                for _ in range(200):  # snapshots (per partition) write both, in their time
                    forgotten = await conn.fetch(
                        "SELECT ticket_id FROM engine_forgotten WHERE group_id = $1",
                        s.engine_group_id,
                    )
                    rows = await conn.fetch(
                        "SELECT ticket_id FROM engine_tickets WHERE group_id = $1",
                        s.engine_group_id,
                    )
                    if forgotten and rows:
                        break
                    await asyncio.sleep(0.05)
            finally:
                await conn.close()
            assert [r["ticket_id"] for r in forgotten] == ["gone"]
            assert [r["ticket_id"] for r in rows] == ["kept"]
        async with running(s):  # restored from PostgreSQL: "gone" is no longer in memory
            await p.send("ticket.reopened", t, "gone")
            await p.send("ticket.reopened", t, "kept")
            async with TopicReader(s.kafka_bootstrap_servers, s.dlq_topic) as dlq:
                await dlq.wait_for(lambda es: len(dlq.records) >= 1)
                records = dlq.records
            async with TopicReader(s.kafka_bootstrap_servers, s.events_topic) as events:
                seen = await events.wait_for(
                    lambda es: any(e["data"]["timer_id"] == "kept:next_answer:1" for e in es)
                )
    assert [(r.key, dict(r.headers)["__connect.errors.reason"]) for r in records] == [
        (b"gone", b"forgotten")
    ]
    assert [e["data"]["timer_id"] for e in seen if e["subject"] == "gone"] == [
        "gone:first_answer:1",
        "gone:first_answer:1",
    ]  # started and fulfilled before it was forgotten; nothing after
