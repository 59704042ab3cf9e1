"""Two engine replicas in one group; kill -9 one: the survivor takes its partitions over and emits
the breaches that fall due within the session timeout plus the grace (allowing the broker's
rebalance timeout for the hand-over), and the in-time answers waiting in the orphaned
partitions count as in time."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from sla_core.codec import encode_ticket_event
from sla_devtools.infra import Infra
from tests.reliability.support.harness import Ledger, Processes, Topics, engine_env
from tests.reliability.support.logs import LogReader
from tests.reliability.support.procs import ServiceProcess
from tests.reliability.support.workload import Record, StreamProducer, partition_of
from tests.support.kafka import create_topics

PARTITIONS = 4
TARGET_SECONDS = 3
SESSION_S = 3.0  # SLA_KAFKA_SESSION_TIMEOUT_MS in engine_env
REBALANCE_S = 3.0  # SLA_KAFKA_REBALANCE_TIMEOUT_MS: the broker waits this long for joiners
GRACE_S = 0.5  # SLA_GRACE_SECONDS
POLICY = f"""
levels:
  fast:
    targets: {{first_answer: {TARGET_SECONDS}s}}
default_level: fast
"""


async def partitions_of(engine: ServiceProcess) -> set[int]:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            body = (await client.get(engine.url + "/readyz")).json()
    except httpx.TransportError:
        return set()  # not listening yet
    return set(body["partitions"]) if body["ready"] else set()


@pytest.mark.parametrize(
    "tickets",
    [pytest.param(40, id="quick"), pytest.param(400, id="full", marks=pytest.mark.slow)],
)
async def test_survivor_takes_over_and_breaches_on_time(
    infra: Infra,
    processes: Processes,
    tmp_path: Path,
    ledger: Ledger,
    unique: str,
    tickets: int,
) -> None:
    policy = tmp_path / "fast.yaml"
    policy.write_text(POLICY)
    topics = Topics.named(unique)
    await create_topics(infra.bootstrap_servers, topics.tickets, partitions=PARTITIONS)
    env = engine_env(infra.bootstrap_servers, infra.database_url, topics, policy)
    first, second = processes.engine(f"{unique}-a", env), processes.engine(f"{unique}-b", env)
    first.start()
    second.start()
    deadline = time.monotonic() + 60
    while True:
        owned = [await partitions_of(first), await partitions_of(second)]
        if all(owned) and owned[0] | owned[1] == set(range(PARTITIONS)):
            assert owned[0].isdisjoint(owned[1])
            break
        assert time.monotonic() < deadline, (owned, second.tail())
        await asyncio.sleep(0.2)

    created = datetime.now(UTC)
    due = created + timedelta(seconds=TARGET_SECONDS)
    ids = [f"{unique}-{i}" for i in range(tickets)]

    def record(tid: str, type_: str, at: datetime) -> Record:
        value = encode_ticket_event(
            event_id=f"{tid}-{type_}",
            source="replicas",
            type=type_,
            time=at,
            ticket_id=tid,
            data={},
        )
        return Record(partition_of(tid, PARTITIONS), tid.encode(), value)

    async with (
        StreamProducer(infra.bootstrap_servers) as producer,
        LogReader(infra.bootstrap_servers, topics.events) as reader,
    ):
        await producer.send(topics.tickets, [record(t, "ticket.created", created) for t in ids])
        await asyncio.sleep(1.5)  # both have applied their tickets and written a snapshot
        victim_partitions = owned[1]
        second.kill()
        killed_at = time.time()
        ledger.fault("replica kill -9")
        # answers in time for the even tickets, waiting in the orphaned partitions too
        answered = ids[::2]
        answer_at = created + timedelta(seconds=1)
        await producer.send(
            topics.tickets, [record(t, "ticket.answered", answer_at) for t in answered]
        )

        def settled(r: LogReader) -> bool:
            types = [orjson.loads(rec.value)["type"] for rec in r.records]
            return types.count("sla.breached") >= tickets - len(answered) and types.count(
                "sla.fulfilled"
            ) >= len(answered)

        await reader.until(settled, 60, "every breach and fulfilment", on_timeout=first.tail)
        await reader.settle(quiet=2.0)
    assert await partitions_of(first) == set(range(PARTITIONS))

    by_id = {}
    for rec in reader.records:
        event = orjson.loads(rec.value)
        by_id.setdefault(event["id"], (event, rec.timestamp / 1000))
    breaches = {e["subject"]: at for e, at in by_id.values() if e["type"] == "sla.breached"}
    fulfilled = {e["subject"] for e, _ in by_id.values() if e["type"] == "sla.fulfilled"}
    assert set(breaches) == set(ids) - set(answered)  # and not one for an in-time answer
    assert fulfilled == set(answered)
    ledger.events_checked += 2 * tickets + len(reader.records)
    ledger.timers_compared += tickets

    # the victim's breaches fall due while it is dead: out within its session timeout plus the
    # grace, with the broker's rebalance timeout as the allowance for the hand-over itself
    # (measured: 3.5 s after the kill, for a 3 s session and a 0.5 s grace)
    bound = max(due.timestamp(), killed_at + SESSION_S) + GRACE_S + REBALANCE_S
    orphaned = [t for t in breaches if partition_of(t, PARTITIONS) in victim_partitions]
    assert orphaned, "the victim owned breaching tickets"
    late = {t: round(breaches[t] - bound, 2) for t in orphaned if breaches[t] > bound}
    worst = max(breaches[t] for t in orphaned) - max(due.timestamp(), killed_at)
    print(f"takeover: last orphaned breach {worst:.2f}s after max(due, kill)")
    ledger.mismatches += len(late)
    assert late == {}
