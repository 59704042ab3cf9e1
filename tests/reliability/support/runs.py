"""Runs that the fault tests compare: the undisturbed reference, and the checks between two."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sla_devtools.infra import Infra
from tests.reliability.support.harness import Ledger, Processes, Topics, engine_env
from tests.reliability.support.logs import LogReader
from tests.reliability.support.procs import ServiceProcess
from tests.reliability.support.workload import (
    Record,
    StreamProducer,
    distinct_events,
    mismatches,
    sentinel_ids,
    verdicts,
)
from tests.support.kafka import create_topics

PARTITIONS = 3
Events = dict[str, dict[str, Any]]


async def undisturbed_run(
    infra: Infra,
    processes: Processes,
    policy: Path,
    name: str,
    records: list[Record],
    prefix: str,
) -> Events:
    """The reference: one engine, never disturbed, reading the whole stream; its SLA events."""
    events, _ = await backlog_run(infra, processes, policy, f"{name}-ref", records, prefix)
    return events


async def backlog_run(
    infra: Infra,
    processes: Processes,
    policy: Path,
    name: str,
    records: list[Record],
    prefix: str,
    inspect: Callable[[ServiceProcess], Awaitable[None]] | None = None,
) -> tuple[Events, float]:
    """Produce `records`, then run one engine over them until every sentinel is out.

    `inspect` looks at the engine before it is stopped. Returns the distinct SLA events and the
    seconds from the engine's readiness to its last sentinel (its time through the backlog).
    """
    topics = Topics.named(name)
    await create_topics(infra.bootstrap_servers, topics.tickets, partitions=PARTITIONS)
    async with StreamProducer(infra.bootstrap_servers) as producer:
        await producer.send(topics.tickets, records)
    engine = processes.engine(
        name, engine_env(infra.bootstrap_servers, infra.database_url, topics, policy)
    )
    engine.start()
    async with LogReader(infra.bootstrap_servers, topics.events) as reader:
        await engine.wait_status("/readyz", 200, within=60)
        ready = time.monotonic()
        await wait_for_sentinels(reader, prefix, engine)
        seconds = time.monotonic() - ready
        await reader.settle()
    if inspect is not None:
        await inspect(engine)
    assert engine.stop() == 0
    return distinct_events(reader.values), seconds


async def wait_for_sentinels(
    reader: LogReader, prefix: str, engine: ServiceProcess, within: float = 90.0
) -> None:
    sentinels = sentinel_ids(prefix, PARTITIONS)

    def done(r: LogReader) -> bool:
        return sentinels <= {rec.key.decode() for rec in r.records}

    await reader.until(done, within, "every partition's sentinel", on_timeout=engine.tail)


def compare(
    expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]], ledger: Ledger
) -> None:
    """The verdict of every timer, then every SLA event, must be the undisturbed run's."""
    want, got = verdicts(expected.values()), verdicts(actual.values())
    diff = mismatches(want, got)
    lost = expected.keys() - actual.keys()
    extra = actual.keys() - expected.keys()
    changed = [i for i in expected.keys() & actual.keys() if expected[i] != actual[i]]
    ledger.timers_compared += len(want)
    ledger.events_checked += len(expected)
    ledger.mismatches += len(diff) + len(lost) + len(extra) + len(changed)
    assert diff == [], "\n".join(diff[:20])
    assert not lost and not extra and not changed, (
        sorted(lost)[:5],
        sorted(extra)[:5],
        changed[:5],
    )
