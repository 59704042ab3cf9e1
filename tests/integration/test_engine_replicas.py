"""Event time and scale-out: replay equals live, two replicas share and hand over partitions,
and a policy reload keeps the old policy when the new file is bad."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import asyncpg

from sla_devtools.infra import Infra
from sla_engine.service import EngineService
from tests.integration.test_engine_service import (
    now,
    of_type,
    policy_file,  # noqa: F401  (fixture)
    running,
    settings_for,
)
from tests.support.kafka import TicketProducer, TopicReader, create_topics


async def test_replay_of_history_at_full_speed_equals_the_live_run(
    infra: Infra,
    unique: str,
    policy_file: Path,  # noqa: F811
) -> None:
    live = settings_for(infra, unique, policy_file)
    await create_topics(infra.bootstrap_servers, live.ticket_topic, partitions=3)
    async with running(live), TicketProducer(live.kafka_bootstrap_servers, live.ticket_topic) as p:
        for i in range(12):
            t = now()
            await p.send("ticket.created", t, f"h-{i}", event_id=f"c{i}")
            if i % 3 == 0:
                await p.send("ticket.answered", t + timedelta(seconds=1), f"h-{i}", f"a{i}")
            if i % 4 == 1:
                await p.send("ticket.updated", t, f"h-{i}", f"u{i}", ticket={"status": "x"})
            await asyncio.sleep(0.25)  # live: time passes between events
        await asyncio.sleep(3)  # every 2-second target has breached or been met
        async with TopicReader(live.kafka_bootstrap_servers, live.events_topic) as reader:
            live_events = await reader.wait_for(lambda es: len(of_type(es, "sla.breached")) == 8)
            await asyncio.sleep(1)
            live_events = await reader.wait_for(lambda es: True)
    # a second engine, a new group, reads the same history from the start at full speed
    replay = live.model_copy(
        update={"engine_group_id": f"replay-{unique}", "events_topic": f"replay-sla-{unique}"}
    )
    async with (
        running(replay),
        TopicReader(replay.kafka_bootstrap_servers, replay.events_topic) as reader,
    ):
        replay_events = await reader.wait_for(lambda es: len(es) >= len(live_events), within=30)
        await asyncio.sleep(1)
        replay_events = await reader.wait_for(lambda es: True)

    def verdicts(events: list[dict]) -> list[tuple[str, str, str]]:
        return sorted((e["id"], e["type"], e["time"]) for e in events)

    assert verdicts(replay_events) == verdicts(live_events)


async def test_two_replicas_share_partitions_and_a_survivor_takes_over(
    infra: Infra,
    unique: str,
    policy_file: Path,  # noqa: F811
) -> None:
    s = settings_for(infra, unique, policy_file).model_copy(
        update={"kafka_session_timeout_ms": 3000}
    )
    await create_topics(infra.bootstrap_servers, s.ticket_topic, partitions=4)
    async with running(s) as first, running(s) as second:
        for _ in range(100):
            if first.parts and second.parts and len(first.parts) + len(second.parts) == 4:
                break
            await asyncio.sleep(0.1)
        assert set(first.parts).isdisjoint(second.parts)
        assert set(first.parts) | set(second.parts) == {0, 1, 2, 3}
        async with TicketProducer(s.kafka_bootstrap_servers, s.ticket_topic) as p:
            t = now() + timedelta(seconds=3)  # dues fall after the hand-over
            for i in range(20):
                await p.send("ticket.created", t, f"x-{i}")
            await asyncio.sleep(1.0)
            await crash(second)
            async with TopicReader(s.kafka_bootstrap_servers, s.breach_topic) as reader:
                seen = await reader.wait_for(
                    lambda es: (
                        {e["subject"] for e in of_type(es, "sla.breached")}
                        == {f"x-{i}" for i in range(20)}
                    ),
                    within=40,
                )
        assert set(first.parts) == {0, 1, 2, 3}
    breached = of_type(seen, "sla.breached")
    assert len({e["id"] for e in breached}) == 20  # duplicates, if any, carry the same ids


async def crash(service: EngineService) -> None:
    """Stop consuming without a final snapshot, as a dead process would (its group session ends)."""
    service.stopping.set()
    assert service.consumer is not None
    await service.consumer.stop()


async def test_policy_reload_applies_a_good_file_and_refuses_a_bad_one(
    infra: Infra,
    unique: str,
    policy_file: Path,  # noqa: F811
) -> None:
    s = settings_for(infra, unique, policy_file)
    await create_topics(infra.bootstrap_servers, s.ticket_topic, partitions=1)
    async with running(s) as service:
        old = service.policy.version
        await asyncio.to_thread(
            policy_file.write_text, "levels:\n  fast:\n    targets: {first_answer: '4 hours'}\n"
        )
        service.reload_policy(force=True)
        assert service.policy.version == old
        assert service.metrics.policy_reloads.labels("refused")._value.get() == 1
        await asyncio.to_thread(
            policy_file.write_text,
            "levels:\n  slow:\n    targets: {first_answer: 1h}\ndefault_level: slow\n",
        )
        service.reload_policy(force=True)
        assert service.policy.version != old
        async with TicketProducer(s.kafka_bootstrap_servers, s.ticket_topic) as p:
            await p.send("ticket.created", now(), "p-1")
        async with TopicReader(s.kafka_bootstrap_servers, s.events_topic) as reader:
            seen = await reader.wait_for(lambda es: of_type(es, "sla.started") != [])
        started = of_type(seen, "sla.started")[0]
        assert started["data"]["level"] == "slow"
        assert started["data"]["policy_version"] == service.policy.version


async def test_forgotten_tickets_stay_forgotten_when_their_partitions_move_to_a_new_replica(
    infra: Infra, unique: str, tmp_path: Path
) -> None:
    """SPEC section 10 across a rebalance: tickets closed longer ago than the reopen window are
    forgotten by the first replica; a second one joins and takes partitions over from the
    snapshots; reopens of the forgotten tickets are dead-lettered as forgotten wherever their
    partition now lives, while tickets within their window reopen with fresh timer ids."""
    policy = tmp_path / "window.yaml"
    policy.write_text(
        "levels:\n  std:\n    targets: {first_answer: 1h, next_answer: 1h}\n"
        "default_level: std\npolicy: {reopen_window: 1h}\n"
    )
    s = settings_for(infra, unique, policy)
    await create_topics(infra.bootstrap_servers, s.ticket_topic, partitions=4)
    t = now()
    gone = [f"gone-{i}" for i in range(8)]
    kept = [f"kept-{i}" for i in range(8)]
    async with running(s) as first, TicketProducer(s.kafka_bootstrap_servers, s.ticket_topic) as p:
        for tid in gone:
            await p.send("ticket.created", t - timedelta(hours=3), tid)
            await p.send("ticket.closed", t - timedelta(hours=2), tid)
        for tid in kept:
            await p.send("ticket.created", t - timedelta(minutes=10), tid)
            await p.send("ticket.closed", t - timedelta(minutes=5), tid)
        conn = await asyncpg.connect(infra.database_url)
        try:
            for _ in range(200):  # forgotten, and written by a snapshot
                rows = await conn.fetch(
                    "SELECT ticket_id FROM engine_forgotten WHERE group_id = $1", s.engine_group_id
                )
                if len(rows) == len(gone):
                    break
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
        assert sorted(r["ticket_id"] for r in rows) == sorted(gone)
        async with running(s) as second:
            for _ in range(200):
                if first.parts and second.parts and len(first.parts) + len(second.parts) == 4:
                    break
                await asyncio.sleep(0.05)
            assert second.parts  # some partitions moved, their state restored from PostgreSQL
            for tid in gone + kept:
                await p.send("ticket.reopened", t, tid)
            async with TopicReader(s.kafka_bootstrap_servers, s.dlq_topic) as dlq:
                await dlq.wait_for(lambda es: len(dlq.records) >= len(gone), within=30)
                records = dlq.records
            async with TopicReader(s.kafka_bootstrap_servers, s.events_topic) as events:
                seen = await events.wait_for(
                    lambda es: {e["subject"] for e in es if e["data"]["cycle"] == 1
                                and e["data"]["metric"] == "next_answer"} == set(kept),
                    within=30,
                )  # fmt: skip
    assert sorted(
        (r.key.decode(), dict(r.headers)["__connect.errors.reason"]) for r in records
    ) == [(tid, b"forgotten") for tid in sorted(gone)]
    assert not [e for e in seen if e["subject"] in gone and e["data"]["metric"] == "next_answer"]
