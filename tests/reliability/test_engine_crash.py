"""kill -9 the engine at random points of a stream, restart it, compare with an undisturbed run.

Both runs read the same seeded stream (support/workload.py) from their own topics. The
undisturbed engine reads it as a backlog; the disturbed one reads it live while it is being
produced and is killed with SIGKILL at random points, each restart resuming from its last
snapshot. Kafka may then hold a re-emitted tail (same ids); the distinct SLA events, and so every
timer's verdict, must be exactly those of the undisturbed run.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from sla_devtools.infra import Infra
from tests.reliability.support.harness import Ledger, Processes, Topics, engine_env
from tests.reliability.support.logs import LogReader
from tests.reliability.support.runs import (
    PARTITIONS,
    compare,
    undisturbed_run,
    wait_for_sentinels,
)
from tests.reliability.support.workload import (
    StreamProducer,
    distinct_events,
    ticket_stream,
    verdicts,
)
from tests.support.kafka import create_topics


@pytest.mark.parametrize(
    ("seed", "tickets", "kills"),
    [
        pytest.param(1, 300, 3, id="quick"),
        *(pytest.param(s, 900, 5, id=f"seed{s}", marks=pytest.mark.slow) for s in (2, 3, 4, 5)),
    ],
)
async def test_kill_9_at_random_points_gives_the_verdicts_of_an_undisturbed_run(
    infra: Infra,
    processes: Processes,
    policy_path: Path,
    ledger: Ledger,
    unique: str,
    seed: int,
    tickets: int,
    kills: int,
) -> None:
    prefix = f"k{unique}"
    records = ticket_stream(seed, tickets, PARTITIONS, prefix)
    expected = await undisturbed_run(infra, processes, policy_path, unique, records, prefix)
    assert len(verdicts(expected.values())) > tickets  # the stream opened timers aplenty

    topics = Topics.named(unique)
    await create_topics(infra.bootstrap_servers, topics.tickets, partitions=PARTITIONS)
    engine = processes.engine(
        unique, engine_env(infra.bootstrap_servers, infra.database_url, topics, policy_path)
    )
    engine.start()
    await engine.wait_status("/readyz", 200, within=60)
    rng = random.Random(seed)
    # kill points: shares of the reference's output, reached while the stream is being produced
    points = sorted(rng.uniform(0.05, 0.9) for _ in range(kills))
    async with (
        StreamProducer(infra.bootstrap_servers) as producer,
        LogReader(infra.bootstrap_servers, topics.events) as reader,
    ):
        stream = asyncio.create_task(
            producer.send(topics.tickets, records, per_second=len(records) / 8, chunk=20)
        )
        for share in points:
            target = int(share * len(expected))
            await reader.until(
                lambda r, t=target: len(r.records) >= t,
                120,
                f"{target} outputs",
                on_timeout=engine.tail,
            )
            await asyncio.sleep(rng.uniform(0, 0.3))  # land anywhere in a batch or a snapshot
            engine.kill()
            ledger.fault("engine kill -9")
            await asyncio.sleep(rng.uniform(0, 1.0))
            engine.start()
        await stream
        await wait_for_sentinels(reader, prefix, engine)
        await reader.settle()
        actual = distinct_events(reader.values)
    assert engine.stop() == 0
    ledger.events_checked += len(records) + len(reader.records)
    compare(expected, actual, ledger)
