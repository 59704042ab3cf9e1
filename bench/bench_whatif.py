"""The what-if against the live engine: archived ticket events replayed per second.

Input: the engine benchmark's workload (created, answered, closed per ticket, on 24/7 one-hour
targets, keyed by ticket over 3 partitions), archived through the archive's own batch path
(`archive.store`), untimed. Value: a whole what-if job (`whatif.jobs.run_job`) over the range
that holds every event: the archive read in the engine's order (one snapshot, a server-side
cursor), the replay under the policy in worker processes (decode, `PartitionEngine`, the
projection's fold; the partitions shared among them), the candidate timers into a temporary
table, the compliance report of both sides by level and the changed timers stored. The value is
with 2 worker processes (the default, SLA_WHATIF_PROCESSES); the details give 1. The live
projection is empty, so every candidate timer is a change: the most the comparison can have to
write. Reference, in the same run: the
engine service's throughput on the real broker (`bench_engine.throughput`, the
`engine_throughput_vs_relay` measurement), events/s. Goal: ratio >= 1.5, since a replay has no
broker in its path.

The details also give the replay alone in this process (records already in memory, one core),
against which the job's reading, hand-over, storing and aggregating can be judged.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench import bench_engine, workload
from bench.bench_archive import Record
from bench.harness import Goal, Metric, Profile
from bench.servers import servers
from report_api import db
from report_api.archive.store import commit_archive_batch, ensure_partitions, staging_rows
from report_api.projection.store import Partition
from report_api.testing import create_database
from report_api.whatif import store
from report_api.whatif.jobs import WhatIf, run_job
from report_api.whatif.replay import Replay

METRICS = ("whatif_events_per_second",)
# archived events per profile: the metric asks for at least 1,000,000 (quick and full)
EVENTS = {"tiny": 30_000, "quick": 1_000_002, "full": 3_000_000}
PARTITIONS = 3
BATCH = 5000
ORIGIN = datetime(2026, 6, 1, tzinfo=UTC)
STRUCTURED = [("content-type", b"application/cloudevents+json")]


def records(topic: str, events: int) -> list[Record]:
    """The engine benchmark's input, as the archive receives it: three events per ticket, a
    millisecond apart, each partition's in offset order."""
    offsets = [0] * PARTITIONS
    out = []
    for n in range(events):
        ticket_id, value = bench_engine.input_event(n, ORIGIN)
        partition = (n // 3) % PARTITIONS
        offset = offsets[partition]
        offsets[partition] += 1
        out.append(Record(topic, partition, offset, 0, ticket_id.encode(), value, STRUCTURED))
    return out


async def archive(url: str, batch: list[Record]) -> None:
    conn = await db.connect(url, schema="sla_archive", statement_timeout_ms=0, app="bench")
    try:
        months: set[Any] = set()
        positions: dict[Partition, int | None] = {}
        for i in range(0, len(batch), BATCH):
            part = batch[i : i + BATCH]
            rows = staging_rows(part)
            await ensure_partitions(conn, rows, months)
            nxt: dict[Partition, int] = {}
            for r in part:
                nxt[Partition(r.topic, r.partition)] = r.offset + 1
            expected = {p: positions.get(p) for p in nxt}
            await commit_archive_batch(conn, rows, nxt, expected)
            positions.update(nxt)
    finally:
        await conn.close()


def replay_in_memory(batch: list[Record], now: datetime) -> float:
    """Seconds for the replay alone: every record fed in the engine's order, then finished."""
    ordered = sorted(batch, key=lambda r: (r.partition, r.offset))
    feed = [
        (r.partition, r.value or b"", [k for k, _ in r.headers], [v for _, v in r.headers])
        for r in ordered
    ]
    replay = Replay(workload.policy(), wall_clock=now)
    started = time.perf_counter()
    for i in range(0, len(feed), BATCH):
        replay.feed(feed[i : i + BATCH])
    replay.finish(now)
    return time.perf_counter() - started


async def job_seconds(
    url: str, topic: str, events: int, now: datetime, processes: int
) -> tuple[float, int]:
    """Seconds for one what-if job over every archived event of `topic`; its changed timers."""
    pool = await db.create_pool(url, schema="public", statement_timeout_ms=0, max_size=4)
    try:
        job_id = str(uuid.uuid4())
        async with pool.acquire() as conn:
            await store.create_job(
                conn, job_id=job_id, request={}, policy=workload.POLICY, policy_version="bench"
            )
        whatif = WhatIf(
            workload.policy(),
            ORIGIN,
            ORIGIN + timedelta(days=1),
            ZoneInfo("UTC"),
            ["level"],
        )
        started = time.perf_counter()
        await run_job(
            pool,
            job_id,
            whatif,
            topic=topic,
            archive_schema="sla_archive",
            clock=lambda: now,
            processes=processes,
        )
        elapsed = time.perf_counter() - started
        async with pool.acquire() as conn:
            job = await store.get_job(conn, job_id)
        assert job is not None and job.status == "done", job
        assert job.events_done == events, (job.events_done, events)
        assert job.result is not None
        return elapsed, int(job.result["changed_tickets"])
    finally:
        await pool.close()


async def _run(profile: Profile) -> Metric:
    events = EVENTS.get(profile.name, 1_000_002)
    now = datetime.now(UTC)
    with servers() as infra, tempfile.TemporaryDirectory() as tmp:
        policy_file = Path(tmp) / "policy.yaml"
        policy_file.write_text(workload.POLICY)
        url = await create_database(infra.database_url, f"bench_{uuid.uuid4().hex[:8]}")
        topic = f"tickets-{uuid.uuid4().hex[:6]}"
        batch = records(topic, events)
        await archive(url, batch)
        memory_s = replay_in_memory(batch, now)
        del batch
        runs: dict[int, list[float]] = {1: [], 2: []}
        changed = 0
        for _ in range(2):  # alternated: 2 processes, then 1
            for processes in (2, 1):
                seconds, changed = await job_seconds(url, topic, events, now, processes)
                runs[processes].append(seconds)
        engine = await bench_engine.throughput(infra, policy_file, profile)
    value = events / statistics.median(runs[2])
    return Metric(
        name="whatif_events_per_second",
        value=value,
        unit="events/s",
        reference=engine.value,
        reference_label="the engine service's throughput on the broker (engine_throughput_vs_relay)"
        ", events/s",
        goal=Goal("ratio", ">=", 1.5),
        details={
            "events": events,
            "partitions": PARTITIONS,
            "job_seconds_runs": [round(s, 2) for s in runs[2]],
            "one_process_events_per_s": round(events / statistics.median(runs[1])),
            "one_process_job_seconds_runs": [round(s, 2) for s in runs[1]],
            "replay_in_memory_one_core_events_per_s": round(events / memory_s),
            "changed_timers": changed,
            "engine_events": engine.details["events"],
            "engine_events_per_s_runs": engine.details["engine_events_per_s_runs"],
            "processes": "2 replay workers (value), 1 (details); partitions shared by modulo",
        },
    )


def run(profile: Profile, wanted: set[str]) -> list[Metric]:
    return [asyncio.run(_run(profile))] if "whatif_events_per_second" in wanted else []
