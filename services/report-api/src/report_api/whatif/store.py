"""What-if jobs in PostgreSQL (migration 0007): a job's request, status, progress and result,
and its timers whose verdict changes, so that any replica answers for any job.

The candidate's timers themselves live only in a temporary table of the job's connection
(`load_candidate`), never in the projection's tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from report_api.whatif.workers import CANDIDATE_COLUMNS, CandidateRow

CANDIDATE = "pg_temp.whatif_candidate"
_CANDIDATE_DDL = """
CREATE TEMP TABLE whatif_candidate (
    timer_id        text COLLATE "C" PRIMARY KEY,
    ticket_id       text COLLATE "C" NOT NULL,
    metric          text COLLATE "C" NOT NULL,
    cycle           integer NOT NULL,
    level           text COLLATE "C" NOT NULL,
    started_at      timestamptz NOT NULL,
    due_at          timestamptz,
    state           text NOT NULL,
    elapsed_seconds double precision NOT NULL,
    department      text COLLATE "C",
    agent           text COLLATE "C",
    team            text COLLATE "C",
    breach_agent    text COLLATE "C",
    breach_team     text COLLATE "C"
) ON COMMIT DROP"""

# Timers started in the range on either side whose verdict (state) differs, or that exist on
# one side only. Deleted tickets' timers are on neither side (the projection drops them).
_CHANGED = f"""
INSERT INTO whatif_timers (job_id, ticket_id, timer_id, metric, cycle, level,
                           live, live_due_at, candidate, candidate_due_at)
SELECT $1, COALESCE(c.ticket_id, l.ticket_id), COALESCE(c.timer_id, l.timer_id),
       COALESCE(c.metric, l.metric), COALESCE(c.cycle, l.cycle), COALESCE(c.level, l.level),
       l.state, l.due_at, c.state, c.due_at
FROM (SELECT * FROM sla_timers WHERE started_at >= $2 AND started_at < $3) l
FULL JOIN (SELECT * FROM {CANDIDATE} WHERE started_at >= $2 AND started_at < $3) c
  ON c.timer_id = l.timer_id
WHERE l.state IS DISTINCT FROM c.state"""
TICKET_COLUMNS = (
    "ticket_id",
    "timer_id",
    "metric",
    "cycle",
    "level",
    "live",
    "live_due_at",
    "candidate",
    "candidate_due_at",
)


@dataclass(frozen=True)
class Job:
    id: str
    status: str
    request: dict[str, Any]
    policy_version: str
    events_done: int
    events_total: int | None
    error: dict[str, Any] | None
    result: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


async def create_job(
    conn: asyncpg.Connection,
    *,
    job_id: str,
    request: dict[str, Any],
    policy: str,
    policy_version: str,
) -> None:
    await conn.execute(
        "INSERT INTO whatif_jobs (id, status, request, policy, policy_version) "
        "VALUES ($1, 'queued', $2::jsonb, $3, $4)",
        job_id,
        orjson.dumps(request).decode(),
        policy,
        policy_version,
    )


async def get_job(conn: asyncpg.Connection, job_id: str) -> Job | None:
    row = await conn.fetchrow(
        "SELECT id, status, request::text, policy_version, events_done, events_total, "
        "error::text, result::text, created_at, updated_at FROM whatif_jobs WHERE id = $1",
        job_id,
    )
    if row is None:
        return None
    return Job(
        id=row[0],
        status=row[1],
        request=orjson.loads(row[2]),
        policy_version=row[3],
        events_done=row[4],
        events_total=row[5],
        error=None if row[6] is None else orjson.loads(row[6]),
        result=None if row[7] is None else orjson.loads(row[7]),
        created_at=row[8],
        updated_at=row[9],
    )


async def set_running(conn: asyncpg.Connection, job_id: str, events_total: int) -> None:
    await conn.execute(
        "UPDATE whatif_jobs SET status = 'running', events_total = $2, updated_at = now() "
        "WHERE id = $1",
        job_id,
        events_total,
    )


async def set_progress(conn: asyncpg.Connection, job_id: str, events_done: int) -> None:
    await conn.execute(
        "UPDATE whatif_jobs SET events_done = $2, updated_at = now() WHERE id = $1",
        job_id,
        events_done,
    )


async def set_failed(conn: asyncpg.Connection, job_id: str, error: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE whatif_jobs SET status = 'failed', error = $2::jsonb, updated_at = now() "
        "WHERE id = $1",
        job_id,
        orjson.dumps(error).decode(),
    )


async def load_candidate(conn: asyncpg.Connection, rows: Iterable[CandidateRow]) -> None:
    """The candidate's timers (CANDIDATE_COLUMNS) into a temporary table, dropped at the end of
    `conn`'s transaction, in which this must run."""
    await conn.execute(_CANDIDATE_DDL)
    await conn.copy_records_to_table(
        "whatif_candidate", records=rows, columns=list(CANDIDATE_COLUMNS)
    )


async def store_changes(
    conn: asyncpg.Connection, job_id: str, *, start: datetime, end: datetime
) -> int:
    """Record the timers started in [start, end) whose verdict the candidate changes (needs
    `load_candidate` in the same transaction); returns how many."""
    status = await conn.execute(_CHANGED, job_id, start, end)
    return int(status.rsplit(" ", 1)[-1])


async def set_done(
    conn: asyncpg.Connection, job_id: str, result: dict[str, Any], events_done: int
) -> None:
    await conn.execute(
        "UPDATE whatif_jobs SET status = 'done', result = $2::jsonb, events_done = $3, "
        "updated_at = now() WHERE id = $1",
        job_id,
        orjson.dumps(result).decode(),
        events_done,
    )


async def changed_timers(
    conn: asyncpg.Connection,
    job_id: str,
    *,
    after: tuple[str, str] | None,
    limit: int | None,
) -> list[asyncpg.Record]:
    """The job's changed timers in (ticket, timer) order, from after the keyset `after`;
    `limit` None: all of them."""
    clauses = ["job_id = $1"]
    args: list[Any] = [job_id]
    if after is not None:
        clauses.append("(ticket_id, timer_id) > ($2, $3)")
        args += list(after)
    query = (
        f"SELECT {', '.join(TICKET_COLUMNS)} FROM whatif_timers WHERE {' AND '.join(clauses)} "
        "ORDER BY ticket_id, timer_id"
    )
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    return list(await conn.fetch(query, *args))
