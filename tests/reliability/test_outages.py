"""PostgreSQL stopped, the broker cut off: the engine waits and retries, says it is not ready while
its database is away, never crashes, and once the dependency is back its SLA events are exactly
those of an undisturbed run of the same stream."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sla_devtools.infra import Infra, free_port
from tests.reliability.support.broker import OwnBroker
from tests.reliability.support.harness import Ledger, Processes, Topics, engine_env
from tests.reliability.support.logs import LogReader
from tests.reliability.support.procs import ServiceProcess
from tests.reliability.support.proxy import TcpProxy
from tests.reliability.support.reportapi import (
    TimerKey,
    engine_verdicts,
    raw_values,
    report_api,
    report_mismatches,
    wait_for_report,
)
from tests.reliability.support.runs import (
    PARTITIONS,
    backlog_run,
    compare,
    undisturbed_run,
    wait_for_sentinels,
)
from tests.reliability.support.workload import (
    Record,
    StreamProducer,
    distinct_events,
    partition_of,
    ticket_stream,
)
from tests.support.kafka import create_topics

QUICK_OUTAGE = 8.0
FULL_OUTAGE = 30.0


@pytest.fixture
def own_postgres() -> Iterator[Infra]:
    """A PostgreSQL of the test's own, to stop and start (the session's one stays up)."""
    run_dir = Path(tempfile.mkdtemp(prefix="sla-outage-"))
    pg = Infra(run_dir=run_dir, pg_port=free_port(), kafka_port=0)
    pg.postgres_up(extra_settings={"fsync": "off"})
    try:
        yield pg
    finally:
        pg.postgres_down("immediate")
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
async def cut_broker(tmp_path: Path) -> AsyncIterator[TcpProxy]:
    """A broker of the test's own, reachable only through a proxy the test can cut."""
    broker = OwnBroker(tmp_path, free_port(), free_port())
    broker.start()
    proxy = TcpProxy(broker.advertised_port, broker.port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()
        broker.stop()


async def check_report(api: ServiceProcess, expected: dict[TimerKey, str], ledger: Ledger) -> None:
    """The SLA log report must come to show exactly `expected`."""
    actual = await wait_for_report(api, expected, within=90)
    diff = report_mismatches(expected, actual)
    ledger.timers_compared += len(expected)
    ledger.mismatches += len(diff)
    assert diff == [], "\n".join(diff[:20])
    assert api.stop() in {0, -15}


async def watch_outage(engine: ServiceProcess, seconds: float, expect_unready: bool) -> int:
    """For `seconds`, check every half second that the engine lives (and is not ready)."""
    checks = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert engine.alive, engine.tail()
        if expect_unready:
            assert await engine.status("/readyz") == 503, engine.tail()
        checks += 1
        await asyncio.sleep(0.5)
    return checks


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(QUICK_OUTAGE, id="quick"),
        pytest.param(FULL_OUTAGE, id="full", marks=pytest.mark.slow),
    ],
)
async def test_postgres_outage_engine_waits_reports_unready_and_loses_nothing(
    infra: Infra,
    own_postgres: Infra,
    processes: Processes,
    policy_path: Path,
    ledger: Ledger,
    unique: str,
    outage: float,
) -> None:
    prefix = f"p{unique}"
    records = ticket_stream(21, 200, PARTITIONS, prefix)
    expected = await undisturbed_run(infra, processes, policy_path, unique, records, prefix)

    topics = Topics.named(unique)
    await create_topics(infra.bootstrap_servers, topics.tickets, partitions=PARTITIONS)
    env = engine_env(infra.bootstrap_servers, own_postgres.database_url, topics, policy_path)
    engine = processes.engine(unique, env)
    engine.start()
    await engine.wait_status("/readyz", 200, within=60)
    async with (
        StreamProducer(infra.bootstrap_servers) as producer,
        LogReader(infra.bootstrap_servers, topics.events) as reader,
    ):
        stream = asyncio.create_task(
            producer.send(topics.tickets, records, per_second=len(records) / (outage + 4))
        )
        await asyncio.sleep(1.5)
        own_postgres.postgres_down("immediate")  # as a crash: no goodbye to the clients
        ledger.fault("postgres stopped")
        await engine.wait_status("/readyz", 503, within=10)
        await watch_outage(engine, outage, expect_unready=True)
        own_postgres.postgres_up(extra_settings={"fsync": "off"})
        await engine.wait_status("/readyz", 200, within=30)
        await stream
        # the state written after the outage must be whole: kill -9 and resume from it
        await asyncio.sleep(1.5)
        engine.kill()
        ledger.fault("engine kill -9")
        engine.start()
        await wait_for_sentinels(reader, prefix, engine)
        await reader.settle()
        actual = distinct_events(reader.values)
    assert engine.stop() == 0
    ledger.events_checked += len(records) + len(reader.records)
    compare(expected, actual, ledger)


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(QUICK_OUTAGE, id="quick"),
        pytest.param(FULL_OUTAGE, id="full", marks=pytest.mark.slow),
    ],
)
async def test_broker_cut_off_engine_retries_and_resumes_without_loss(
    infra: Infra,
    cut_broker: TcpProxy,
    processes: Processes,
    policy_path: Path,
    tmp_path: Path,
    ledger: Ledger,
    unique: str,
    outage: float,
) -> None:
    prefix = f"b{unique}"
    records = ticket_stream(31, 200, PARTITIONS, prefix)
    expected = await undisturbed_run(infra, processes, policy_path, unique, records, prefix)

    bootstrap = f"127.0.0.1:{cut_broker.port}"
    topics = Topics.named(unique)
    await create_topics(bootstrap, topics.tickets, partitions=PARTITIONS)
    engine = processes.engine(
        unique, engine_env(bootstrap, infra.database_url, topics, policy_path)
    )
    engine.start()
    api = processes.add(
        await report_api(infra.database_url, bootstrap, topics.events, tmp_path / "report-api.log")
    )
    api.start()
    await engine.wait_status("/readyz", 200, within=60)
    await api.wait_status("/readyz", 200, within=60)
    first, rest = records[: len(records) // 2], records[len(records) // 2 :]
    async with StreamProducer(bootstrap) as producer:
        await producer.send(topics.tickets, first)
    await asyncio.sleep(0.2)  # the engine is working through the first half
    await cut_broker.cut()
    ledger.fault("broker cut")
    await watch_outage(engine, outage, expect_unready=False)
    assert api.alive, api.tail()
    await cut_broker.restore()
    async with StreamProducer(bootstrap) as producer:
        await producer.send(topics.tickets, rest)
    async with LogReader(bootstrap, topics.events) as reader:
        await wait_for_sentinels(reader, prefix, engine, within=120)
        await reader.settle()
        actual = distinct_events(reader.values)
    assert engine.stop() == 0
    ledger.events_checked += len(records) + len(reader.records)
    compare(expected, actual, ledger)
    await check_report(api, engine_verdicts(expected), ledger)


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(QUICK_OUTAGE, id="quick"),
        pytest.param(FULL_OUTAGE, id="full", marks=pytest.mark.slow),
    ],
)
async def test_postgres_outage_projector_waits_reports_unready_and_completes(
    infra: Infra,
    own_postgres: Infra,
    processes: Processes,
    policy_path: Path,
    tmp_path: Path,
    ledger: Ledger,
    unique: str,
    outage: float,
) -> None:
    prefix = f"q{unique}"
    records = ticket_stream(61, 200, PARTITIONS, prefix)
    events, _ = await backlog_run(infra, processes, policy_path, unique, records, prefix)
    log = raw_values(events)
    sla_topic = f"sla-outage-{unique}"
    await create_topics(infra.bootstrap_servers, sla_topic, partitions=PARTITIONS)
    api = processes.add(
        await report_api(
            own_postgres.database_url,
            infra.bootstrap_servers,
            sla_topic,
            tmp_path / "report-api.log",
            projection_max_records=40,
        )
    )
    api.start()
    await api.wait_status("/readyz", 200, within=60)
    async with StreamProducer(infra.bootstrap_servers) as producer:
        stream = asyncio.create_task(
            producer.send(
                sla_topic,
                [Record(partition_of(k.decode(), PARTITIONS), k, v) for k, v in log],
                per_second=len(log) / (outage + 4),
                chunk=20,
            )
        )
        await asyncio.sleep(1.5)
        own_postgres.postgres_down("immediate")
        ledger.fault("postgres stopped")
        await api.wait_status("/readyz", 503, within=10)
        await watch_outage(api, outage, expect_unready=True)
        own_postgres.postgres_up(extra_settings={"fsync": "off"})
        await api.wait_status("/readyz", 200, within=30)
        await stream
    ledger.events_checked += len(log)
    await check_report(api, engine_verdicts(events), ledger)


async def test_a_replica_dies_during_a_postgres_outage_and_the_survivor_restores_after_it(
    infra: Infra,
    own_postgres: Infra,
    processes: Processes,
    policy_path: Path,
    ledger: Ledger,
    unique: str,
) -> None:
    """The rebalance that follows the death needs the snapshots, which are out of reach: the
    survivor must wait for them, not take the partitions over empty-handed."""
    prefix = f"r{unique}"
    records = ticket_stream(71, 200, PARTITIONS, prefix)
    expected = await undisturbed_run(infra, processes, policy_path, unique, records, prefix)

    topics = Topics.named(unique)
    await create_topics(infra.bootstrap_servers, topics.tickets, partitions=PARTITIONS)
    env = engine_env(infra.bootstrap_servers, own_postgres.database_url, topics, policy_path)
    survivor = processes.engine(f"{unique}-a", env)
    victim = processes.engine(f"{unique}-b", env)
    survivor.start()
    victim.start()
    await survivor.wait_status("/readyz", 200, within=60)
    await victim.wait_status("/readyz", 200, within=60)
    async with (
        StreamProducer(infra.bootstrap_servers) as producer,
        LogReader(infra.bootstrap_servers, topics.events) as reader,
    ):
        stream = asyncio.create_task(
            producer.send(topics.tickets, records, per_second=len(records) / 10)
        )
        await asyncio.sleep(2.5)  # the group has settled on two members
        own_postgres.postgres_down("immediate")
        ledger.fault("postgres stopped")
        victim.kill()
        ledger.fault("replica kill -9")
        await watch_outage(survivor, QUICK_OUTAGE, expect_unready=True)
        own_postgres.postgres_up(extra_settings={"fsync": "off"})
        await survivor.wait_status("/readyz", 200, within=60)
        await stream
        await wait_for_sentinels(reader, prefix, survivor)
        await reader.settle()
        actual = distinct_events(reader.values)
    assert survivor.stop() == 0
    ledger.events_checked += len(records) + len(reader.records)
    compare(expected, actual, ledger)
