"""A what-if job's run, in the background of the replica that accepted it.

1. Read the records to replay from the archive (`archive.read.replay_records`): the whole
   history of the tickets with an event in [from, to), in the engine's order, in one snapshot;
   store their number and mark the job running.
2. Replay them in chunks under the candidate policy (`replay.Replay`) in worker processes, each
   partition in one of them (`workers.Workers`), so the API's event loop and interpreter stay
   free; store the progress after each chunk.
3. Move the watermarks to now less the grace: timers past due breach, as they have live; the
   workers send back the candidate timers.
4. In one transaction: the candidate's timers into a temporary table; the compliance report
   over it and over the projection, by the same query (`queries.compliance`); the timers whose
   verdict changes into `whatif_timers`; the side-by-side result and status `done`.
A failure at any step marks the job `failed` with the reason. Nothing is written to the
projection's tables or to Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from report_api.archive.read import ArchivedRecord, replay_records
from report_api.queries.compliance import compliance
from report_api.whatif import store
from report_api.whatif.compare import side_by_side
from report_api.whatif.workers import Workers
from sla_core.policy import Policy

log = logging.getLogger(__name__)

CHUNK = 5000  # records per hand-over to the workers, and per progress update
PROCESSES = 2  # replay workers per job (SLA_WHATIF_PROCESSES)


@dataclass(frozen=True)
class WhatIf:
    """A checked what-if request."""

    policy: Policy
    start: datetime
    end: datetime
    zone: ZoneInfo
    group_by: Sequence[str]
    older: tuple[Policy, ...] = ()  # earlier versions, oldest first (sla_core.policy_history)


async def run_job(
    pool: asyncpg.Pool,
    job_id: str,
    whatif: WhatIf,
    *,
    topic: str,
    archive_schema: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    chunk: int = CHUNK,
    processes: int = PROCESSES,
) -> None:
    """Steps 1-4 of the module docstring; marks the job failed on any error (and re-raises a
    cancellation, after marking it)."""
    try:
        await _run(pool, job_id, whatif, topic, archive_schema, clock, chunk, processes)
    except asyncio.CancelledError:
        await _fail(pool, job_id, "interrupted", "the replica running it stopped")
        raise
    except Exception as exc:
        log.exception("what-if %s failed", job_id)
        await _fail(pool, job_id, "failed", f"{type(exc).__name__}: {exc}")


async def _fail(pool: asyncpg.Pool, job_id: str, title: str, detail: str) -> None:
    error = {
        "type": f"https://sla-engine.dev/problems/what-if-{title}",
        "title": f"What-if {title}",
        "status": 500,
        "detail": detail,
    }
    with contextlib.suppress(Exception):  # the database itself may be the failure
        async with pool.acquire() as conn:
            await store.set_failed(conn, job_id, error)


async def _run(
    pool: asyncpg.Pool,
    job_id: str,
    whatif: WhatIf,
    topic: str,
    archive_schema: str,
    clock: Callable[[], datetime],
    chunk: int,
    processes: int,
) -> None:
    now = clock()
    # 1
    async with (
        Workers(
            processes, whatif.policy.text, now, older=[p.text for p in whatif.older]
        ) as workers,
        pool.acquire() as reader,
        replay_records(
            reader, topic=topic, start=whatif.start, end=whatif.end, schema=archive_schema
        ) as (total, records),
    ):
        async with pool.acquire() as conn:
            await store.set_running(conn, job_id, total)
        # 2
        batch: list[ArchivedRecord] = []
        async for record in records:
            batch.append(record)
            if len(batch) >= chunk:
                await _feed(pool, job_id, workers, batch)
                batch = []
        if batch:
            await _feed(pool, job_id, workers, batch)
        # 3
        rows, skipped = await workers.finish(now)
        done = workers.events_done
    # 4
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL statement_timeout = 0")  # a long range has many timers
        await store.load_candidate(conn, rows)
        asked: dict[str, Any] = {
            "start": whatif.start,
            "end": whatif.end,
            "zone": whatif.zone,
            "group_by": whatif.group_by,
            "filters": {},
        }
        live = await compliance(conn, **asked)
        candidate = await compliance(conn, **asked, timers=store.CANDIDATE)
        changed = await store.store_changes(conn, job_id, start=whatif.start, end=whatif.end)
        groups, totals = side_by_side(live, candidate, whatif.group_by)
        result = {
            "from": whatif.start.astimezone(whatif.zone).isoformat(),
            "to": whatif.end.astimezone(whatif.zone).isoformat(),
            "tz": whatif.zone.key,
            "group_by": list(whatif.group_by),
            "rows": groups,
            "totals": totals,
            "changed_tickets": changed,
            "skipped_events": skipped,
        }
        await store.set_done(conn, job_id, result, done)


async def _feed(
    pool: asyncpg.Pool, job_id: str, workers: Workers, batch: list[ArchivedRecord]
) -> None:
    await workers.feed(batch)
    async with pool.acquire() as conn:
        await store.set_progress(conn, job_id, workers.events_done)


class WhatIfJobs:
    """The jobs this replica runs: one at a time (a replay keeps its worker processes busy),
    the others queued."""

    def __init__(
        self, *, topic: str, archive_schema: str, processes: int = PROCESSES, concurrency: int = 1
    ) -> None:
        self.topic = topic
        self.archive_schema = archive_schema
        self.processes = processes
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, pool: asyncpg.Pool, job_id: str, whatif: WhatIf) -> None:
        """Run the job in the background (queued until a slot is free)."""
        task = asyncio.create_task(self._run(pool, job_id, whatif), name=f"what-if {job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, pool: asyncpg.Pool, job_id: str, whatif: WhatIf) -> None:
        try:
            await self._slots.acquire()
        except asyncio.CancelledError:  # stopped while queued
            await _fail(pool, job_id, "interrupted", "the replica holding it stopped")
            raise
        try:
            await run_job(
                pool,
                job_id,
                whatif,
                topic=self.topic,
                archive_schema=self.archive_schema,
                processes=self.processes,
            )
        finally:
            self._slots.release()

    async def stop(self) -> None:
        """Cancel the running and queued jobs; each is marked failed (interrupted)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
