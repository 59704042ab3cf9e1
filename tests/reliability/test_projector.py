"""kill -9 the report projector mid-batch, over a log that holds re-emitted events (as an engine
crash leaves it): after the restarts the SLA log report lists every timer once, with the verdict
the engine gave it in an undisturbed run."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import httpx
import pytest

from sla_devtools.infra import Infra
from tests.reliability.support.harness import Ledger, Processes
from tests.reliability.support.procs import ServiceProcess
from tests.reliability.support.reportapi import (
    engine_verdicts,
    log_rows,
    raw_values,
    report_api,
    report_mismatches,
    wait_for_report,
)
from tests.reliability.support.runs import PARTITIONS, backlog_run
from tests.reliability.support.workload import (
    Record,
    StreamProducer,
    partition_of,
    ticket_stream,
)
from tests.support.kafka import create_topics


async def rows_now(api: ServiceProcess) -> int:
    try:
        return len(await log_rows(api))
    except httpx.HTTPError:
        return 0  # restarting, or the database is away


def with_reemissions(
    values: list[tuple[bytes, bytes]], rng: random.Random
) -> list[tuple[bytes, bytes]]:
    """The log as an engine crash leaves it: now and then a tail of events again, same ids."""
    out = []
    for i, value in enumerate(values):
        out.append(value)
        if rng.random() < 0.03:
            out.extend(values[max(0, i - rng.randint(5, 80)) : i + 1])
    return out


@pytest.mark.parametrize(
    ("seed", "tickets", "kills"),
    [
        pytest.param(51, 250, 3, id="quick"),
        *(pytest.param(s, 700, 5, id=f"seed{s}", marks=pytest.mark.slow) for s in (52, 53)),
    ],
)
async def test_projector_kill_9_mid_batch_loses_and_doubles_nothing(
    infra: Infra,
    processes: Processes,
    policy_path: Path,
    tmp_path: Path,
    ledger: Ledger,
    unique: str,
    seed: int,
    tickets: int,
    kills: int,
) -> None:
    prefix = f"j{unique}"
    records = ticket_stream(seed, tickets, PARTITIONS, prefix)
    events, _ = await backlog_run(infra, processes, policy_path, unique, records, prefix)
    expected = engine_verdicts(events)
    rng = random.Random(seed)
    log = with_reemissions(raw_values(events), rng)
    sla_topic = f"sla-projected-{unique}"
    await create_topics(infra.bootstrap_servers, sla_topic, partitions=PARTITIONS)

    api = processes.add(
        await report_api(
            infra.database_url,
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
                per_second=len(log) / 6,
                chunk=20,
            )
        )
        for share in sorted(rng.uniform(0.1, 0.9) for _ in range(kills)):
            deadline = time.monotonic() + 90
            while await rows_now(api) < share * len(expected):
                assert time.monotonic() < deadline, api.tail()
                await asyncio.sleep(0.1)
            await asyncio.sleep(rng.uniform(0, 0.2))
            api.kill()
            ledger.fault("projector kill -9")
            await asyncio.sleep(rng.uniform(0, 0.5))
            api.start()
        await stream
    actual = await wait_for_report(api, expected, within=90)
    assert api.stop() in {0, -15}
    diff = report_mismatches(expected, actual)
    ledger.events_checked += len(log)
    ledger.timers_compared += len(expected)
    ledger.mismatches += len(diff)
    assert diff == [], "\n".join(diff[:20])
