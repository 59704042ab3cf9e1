"""Reports on PostgreSQL: compliance, log pages, CSV export, projection ingest.

Setup: a migrated database whose `sla_timers` is bulk-loaded with N synthetic timers (90 days,
4 departments x 25 agents in 12 teams x 3 levels x 2 metrics, every state; 30% of the breached
and missed timers were in other hands at their due), and whose rollup tables are then filled
from those rows with the projection's own definitions (`rollups.fill_sql`): the state the
projection would have reached. No ownership segments: the compliance report does not read them.

- compliance: `queries.compliance.compliance` (a 30-day range with minute edges, by team with
  `attribute=at_breach`, Europe/Oslo) against the plain GROUP BY of the same question on the raw
  rows. The value and reference are queries per second (medians), so the ratio is the speed-up.
- log pages: `queries.log.log_page` (50 rows, newest first) at page 1 and at page 10,000 (cursor
  taken from the row before it).
- CSV: `queries.log.export_sql` through `csv.stream_copy`, every row, against asyncpg's
  `copy_from_query(..., format='csv')` of the same rows (raw columns, same order).
- projection: `projection.store.commit_batch` (batches of 500 events: a timer started, then
  fulfilled or missed, the ending with its ownership segments; agents, teams and holders at
  the due as above) into the loaded database (one segment per loaded timer that ended or
  breached), against `copy_records_to_table` of the timer and segment rows it produced into
  indexed copies of the two tables.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from bench.harness import Goal, Metric, Profile, percentile, rss_bytes
from bench.servers import servers
from report_api.business_time import SecondsLeft
from report_api.csv import stream_copy
from report_api.cursor import Cursor
from report_api.projection.events import parse_event
from report_api.projection.handlers import COLUMNS, SEGMENT_COLUMNS
from report_api.projection.store import Partition, commit_batch
from report_api.queries.compliance import compliance
from report_api.queries.log import LogQuery, export_sql, log_page, parse_sort
from report_api.rollups import (
    COUNTED_STATES,
    ROLLUPS,
    combine_sql,
    fill_sql,
    owner_sql,
    row_stats_sql,
)
from report_api.testing import create_database, encode, sla_event
from sla_core.events import OwnershipSegment

METRICS = (
    "compliance_vs_group_by",
    "compliance_p95_ms",
    "log_page_deep_p95_ms",
    "csv_rows_per_second",
    "csv_vs_copy",
    "projection_events_per_second",
    "projection_vs_copy",
)
ORIGIN = datetime(2026, 7, 1, tzinfo=UTC)
SPAN_DAYS = 90
DEPARTMENTS = ("support", "sales", "billing", "it")
LEVELS = ("standard", "sales", "vip")
METRICS_OF_TIMER = ("first_answer", "resolution")
AGENTS = 25
TEAMS = 12
BREACH_ELSEWHERE = 0.3  # share of breached and missed timers due in other hands than their last
STATES = (("fulfilled", 70), ("missed", 10), ("breached", 5), ("running", 12), ("cancelled", 3))
ZONE = ZoneInfo("Europe/Oslo")
PAGE = 50
DEEP_PAGE = 10_000
QUERY_RUNS = 30
PROJECTION_BATCH = 500


# ---- data ---------------------------------------------------------------------------------------


def timer_rows(count: int, seed: int = 3) -> Iterator[tuple[Any, ...]]:
    """`count` rows of sla_timers (COLUMNS order), started over SPAN_DAYS from ORIGIN.

    Agent k belongs to team k mod TEAMS. A breached or missed timer was in other hands at its
    due for BREACH_ELSEWHERE of them: its breach_agent (and that agent's team) is then another
    agent, so `attribute=at_breach` answers differently from `last`."""
    rng = random.Random(seed)
    states = [s for s, weight in STATES for _ in range(weight)]
    span_s = SPAN_DAYS * 86_400
    for n in range(count):
        started = ORIGIN + timedelta(seconds=rng.randrange(span_s))
        metric = METRICS_OF_TIMER[n % 2]
        target = 3600.0 if metric == "first_answer" else 8 * 3600.0
        state = rng.choice(states)
        elapsed = rng.uniform(0, 2 * target)
        ended = state in ("fulfilled", "missed", "cancelled")
        if state == "fulfilled":
            elapsed = min(elapsed, target)
        elif state in ("missed", "breached"):
            elapsed = max(elapsed, target + 1)
        due = started + timedelta(seconds=target)
        agent = n % AGENTS
        breach_agent = None
        if state in ("missed", "breached"):
            moved = rng.random() < BREACH_ELSEWHERE
            breach_agent = (agent + 1 + rng.randrange(AGENTS - 1)) % AGENTS if moved else agent
        row = {
            "timer_id": f"t{n // 2}:{metric}:1",
            "ticket_id": f"t{n // 2}",
            "metric": metric,
            "cycle": 1,
            "level": LEVELS[n % 3],
            "calendar": "24/7",
            "policy_version": "sha256:bench",
            "target_seconds": target,
            "started_at": started,
            "due_at": due,
            "stopped_at": started + timedelta(seconds=elapsed) if ended else None,
            "elapsed_seconds": elapsed,
            "remaining_seconds": target - elapsed,
            "state": state,
            "breached": state in ("missed", "breached"),
            "paused": False,
            "corrected": False,
            "department": DEPARTMENTS[n % 4],
            "agent": f"agent-{agent}",
            "requester": f"customer{n % 5000}@example.com",
            "priority": "normal",
            "customer_group": None,
            "source": "email",
            "timezone": "UTC",
            "timezone_source": "calendar",
            "cancel_reason": "closed" if state == "cancelled" else None,
            "team": team_of(agent),
            "breach_agent": None if breach_agent is None else f"agent-{breach_agent}",
            "breach_team": None if breach_agent is None else team_of(breach_agent),
            "last_event_at": started + timedelta(seconds=elapsed),
            "last_emitted_at": None,
            "event_keys": [n],
        }
        yield tuple(row[c] for c in COLUMNS)


def team_of(agent: int) -> str:
    return f"team-{agent % TEAMS}"


async def load(conn: asyncpg.Connection, count: int) -> None:
    rows = timer_rows(count)
    chunk = 200_000
    while True:
        part = [r for _, r in zip(range(chunk), rows, strict=False)]
        if not part:
            break
        await conn.copy_records_to_table("sla_timers", records=part, columns=list(COLUMNS))
    await conn.execute(
        f"INSERT INTO sla_segments ({', '.join(SEGMENT_COLUMNS)}) "
        "SELECT timer_id, 1, ticket_id, agent, team, started_at, "
        "COALESCE(stopped_at, due_at), LEAST(elapsed_seconds, target_seconds) FROM sla_timers "
        "WHERE state <> 'running'"
    )
    for spec in ROLLUPS:
        await conn.execute(fill_sql(spec))
    await conn.execute("VACUUM ANALYZE")
    await conn.execute("CHECKPOINT")  # the load's dirty pages written before anything is timed


# ---- timing -------------------------------------------------------------------------------------


async def timed_ms(
    make: Callable[[int], Coroutine[Any, Any, Any]], runs: int
) -> tuple[list[float], Any]:
    """Milliseconds of each of `runs` calls (call i gets i), after one warm-up call."""
    last = await make(-1)
    out = []
    for i in range(runs):
        started = time.perf_counter()
        last = await make(i)
        out.append((time.perf_counter() - started) * 1000)
    return out, last


def _summary(ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "runs": len(ms),
    }


GROUP_BY_SQL = (
    f"SELECT {owner_sql('team', 'at_breach', 's')} AS team, "
    + ", ".join(combine_sql())
    + " FROM (SELECT s.*, "
    + row_stats_sql()
    + " FROM sla_timers s WHERE started_at >= $1 AND started_at < $2 AND state IN ("
    + ", ".join(f"'{s}'" for s in COUNTED_STATES)
    + ")) s GROUP BY 1 HAVING sum(fulfilled_count) + sum(missed_count) > 0 ORDER BY 1"
)


def report_range(i: int) -> tuple[datetime, datetime]:
    """A 30-day range with minute edges, shifted by i hours (so runs do not hit one cache line)."""
    start = ORIGIN + timedelta(days=20, hours=i % 48, minutes=7)
    return start, start + timedelta(days=30, minutes=13)


async def bench_compliance(conn: asyncpg.Connection, rows: int) -> list[Metric]:
    async def ours(i: int) -> Any:
        start, end = report_range(i)
        return await compliance(
            conn,
            start=start,
            end=end,
            zone=ZONE,
            group_by=["team"],
            filters={},
            attribute="at_breach",
        )

    async def plain(i: int) -> Any:
        start, end = report_range(i)
        return await conn.fetch(GROUP_BY_SQL, start, end)

    ours_ms: list[float] = []
    plain_ms: list[float] = []
    for _ in range(3):  # interleaved rounds: a noisy neighbour slows both alike
        ms, _ = await timed_ms(ours, QUERY_RUNS // 3)
        ours_ms += ms
        ms, _ = await timed_ms(plain, max(QUERY_RUNS // 10, 2))
        plain_ms += ms
    result, records = await ours(0), await plain(0)  # the same question: the same answer
    plain_missed = {r["team"]: int(r["missed_count"]) for r in records}
    ours_missed = {g["team"]: f.missed_count for g, f in result.rows}
    rate = 1000 / statistics.median(ours_ms)
    plain_rate = 1000 / statistics.median(plain_ms)
    details = {
        "timers": rows,
        "range": "30 days + minute edges, group_by=team&attribute=at_breach, Europe/Oslo",
        "compliance": _summary(ours_ms),
        "group_by": _summary(plain_ms),
        "same_missed_by_team": ours_missed == plain_missed,
        "rollup_rows": {
            spec.table: await conn.fetchval(f"SELECT count(*) FROM {spec.table}")
            for spec in ROLLUPS
        },
    }
    return [
        Metric(
            name="compliance_vs_group_by",
            value=rate,
            unit="reports/s",
            reference=plain_rate,
            reference_label="plain GROUP BY on raw rows, queries/s",
            goal=Goal("ratio", ">=", 20),
            details=details,
        ),
        Metric(
            name="compliance_p95_ms",
            value=percentile(ours_ms, 95),
            unit="ms",
            reference=percentile(plain_ms, 95),
            reference_label="p95 of the plain GROUP BY",
            goal=Goal("value", "<=", 100),
            details={"timers": rows, "runs": len(ours_ms)},
        ),
    ]


async def bench_log_pages(conn: asyncpg.Connection, rows: int) -> Metric:
    as_of = ORIGIN + timedelta(days=SPAN_DAYS)
    sort = parse_sort("-started")
    query = LogQuery(start=None, end=None, filters={}, sort=sort, as_of=as_of)
    seconds_left = SecondsLeft()
    deep = min(DEEP_PAGE, max(rows // PAGE - 1, 1))
    before = await conn.fetchrow(
        "SELECT started_at, timer_id FROM sla_timers ORDER BY started_at DESC, timer_id DESC "
        "OFFSET $1 LIMIT 1",
        (deep - 1) * PAGE - 1,
    )
    cursor = Cursor(sort.text, before["started_at"], before["timer_id"], as_of)

    def page(after: Cursor | None) -> Callable[[int], Coroutine[Any, Any, Any]]:
        async def call(i: int) -> Any:
            return await log_page(
                conn, query=query, after=after, limit=PAGE, zone=ZONE, seconds_left=seconds_left
            )

        return call

    first_ms: list[float] = []
    deep_ms: list[float] = []
    for _ in range(3):
        ms, _ = await timed_ms(page(None), QUERY_RUNS // 3)
        first_ms += ms
        ms, result = await timed_ms(page(cursor), QUERY_RUNS // 3)
        deep_ms += ms
    return Metric(
        name="log_page_deep_p95_ms",
        value=percentile(deep_ms, 95),
        unit="ms",
        reference=percentile(first_ms, 95),
        reference_label=f"p95 at page 1 ({PAGE} rows)",
        goal=Goal("value", "<=", 100),
        details={
            "timers": rows,
            "deep_page": deep,
            "sort": sort.text,
            "page_1": _summary(first_ms),
            "deep": _summary(deep_ms),
            "deep_rows_returned": len(result.rows),
        },
    )


class PeakRss:
    """Samples this process's resident set every 5 ms in a thread; `peak` above the start."""

    def __init__(self) -> None:
        self.start = rss_bytes()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes() - self.start)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes() - self.start)


async def bench_csv(pool: asyncpg.Pool, rows: int, repeats: int) -> list[Metric]:
    as_of = ORIGIN + timedelta(days=SPAN_DAYS)
    sort = parse_sort("started")
    query = LogQuery(start=None, end=None, filters={}, sort=sort, as_of=as_of)
    raw_sql = f"SELECT {', '.join(COLUMNS)} FROM sla_timers ORDER BY started_at, timer_id"

    async def ours() -> tuple[int, int, int]:
        sql, args = export_sql(query, ([], []))
        size = lines = 0
        with PeakRss() as peak:
            chunks = await stream_copy(
                pool, sql, args, timezone=ZONE.key, statement_timeout_ms=600_000
            )
            async for chunk in chunks:
                size += len(chunk)
                lines += chunk.count(b"\n")
        return lines - 1, size, peak.peak

    async def raw() -> tuple[int, int, int]:
        size = lines = 0

        async def sink(data: bytes) -> None:
            nonlocal size, lines
            size += len(data)
            lines += bytes(data).count(b"\n")

        with PeakRss() as peak:
            async with pool.acquire() as conn:
                await conn.copy_from_query(raw_sql, output=sink, format="csv")
        return lines, size, peak.peak

    runs: dict[str, list[tuple[float, int, int, int]]] = {"ours": [], "raw": []}
    for _ in range(max(2, repeats // 2)):
        for name, fn in (("ours", ours), ("raw", raw)):
            started = time.perf_counter()
            lines, size, peak = await fn()
            runs[name].append((time.perf_counter() - started, lines, size, peak))
    rate = statistics.median(r[1] / r[0] for r in runs["ours"])
    raw_rate = statistics.median(r[1] / r[0] for r in runs["raw"])
    details = {
        "rows": runs["ours"][0][1],
        "reference_rows": runs["raw"][0][1],
        "csv_mib": round(runs["ours"][0][2] / 2**20, 1),
        "reference_csv_mib": round(runs["raw"][0][2] / 2**20, 1),
        "peak_rss_growth_mib": round(max(r[3] for r in runs["ours"]) / 2**20, 1),
        "reference_peak_rss_growth_mib": round(max(r[3] for r in runs["raw"]) / 2**20, 1),
        "export": "export_sql (neutralised cells, RFC 3339 times) via stream_copy, sort started",
    }
    return [
        Metric(
            name=name,
            value=rate,
            unit="rows/s",
            reference=raw_rate,
            reference_label="copy_from_query csv of the same rows, rows/s",
            goal=Goal("ratio", ">=", 0.5),
            details=details,
        )
        for name in ("csv_rows_per_second", "csv_vs_copy")
    ]


def projection_events(count: int) -> list[Any]:
    """`count` SLA events as the projection reads them: started, then fulfilled or missed.

    Every ending carries the timer's ownership segments (as the engine's do): one holder, or for
    every third ticket two (the ticket moved to another agent and team halfway); a miss also
    carries the holder at the due."""
    out = []
    base = ORIGIN + timedelta(days=SPAN_DAYS + 1)
    tag = uuid.uuid4().hex[:6]
    for n in range(count // 2):
        ticket = f"p{tag}-{n}"
        started = base + timedelta(seconds=n)
        ended = started + timedelta(seconds=600 + (n % 7) * 900)
        kind = "sla.fulfilled" if n % 5 else "sla.missed"
        first_n, last_n = n % AGENTS, (n + 1) % AGENTS
        first, last = f"agent-{first_n}", f"agent-{last_n}"
        moved = n % 3 == 0  # a third change hands half-way
        holder_n = last_n if moved else first_n
        last_holder = f"agent-{holder_n}"
        for type_, at in (("sla.started", started), (kind, ended)):
            holder = {}
            if type_ == "sla.missed":  # a moved ticket was due in its first hands
                holder = {"breach_agent": first, "breach_team": team_of(first_n)}
            event = sla_event(
                type_,
                ticket,
                time=at,
                started=started,
                department=DEPARTMENTS[n % 4],
                agent=first if type_ == "sla.started" else last_holder,
                team=team_of(first_n if type_ == "sla.started" else holder_n),
                **holder,
            )
            if type_ != "sla.started":
                middle = started + (ended - started) / 2 if moved else ended
                parts = [(first, started, middle)] + ([(last, middle, ended)] if moved else [])
                segments = [
                    OwnershipSegment(
                        agent=agent,
                        team=team_of(int(agent.removeprefix("agent-"))),
                        started_at=begin,
                        ended_at=end,
                        business_seconds=(end - begin).total_seconds(),
                    )
                    for agent, begin, end in parts
                ]
                data = msgspec.structs.replace(event.data, segments=segments)
                event = msgspec.structs.replace(event, data=data)
            out.append(parse_event(encode(event)))
    return out


async def bench_projection(conn: asyncpg.Connection, count: int) -> list[Metric]:
    events = projection_events(count)
    topic = f"sla-{uuid.uuid4().hex[:6]}"
    partition = Partition(topic, 0)
    offset: int | None = None
    started = time.perf_counter()
    for i in range(0, len(events), PROJECTION_BATCH):
        batch = events[i : i + PROJECTION_BATCH]
        nxt = i + len(batch)
        await commit_batch(conn, batch, {partition: nxt}, {partition: offset})
        offset = nxt
    ours_s = time.perf_counter() - started
    ids = sorted({e.data.timer_id for e in events})
    produced = await conn.fetch(
        f"SELECT {', '.join(COLUMNS)} FROM sla_timers WHERE timer_id = ANY($1::text[])", ids
    )
    segments = await conn.fetch(
        f"SELECT {', '.join(SEGMENT_COLUMNS)} FROM sla_segments WHERE timer_id = ANY($1::text[]) "
        "ORDER BY timer_id, n",
        ids,
    )
    for table in ("sla_timers", "sla_segments"):
        await conn.execute(
            f"CREATE TEMP TABLE copy_{table} (LIKE {table} INCLUDING DEFAULTS INCLUDING INDEXES)"
        )
    # the reference writes the same rows in the same batches: a batch's timers and their segments
    records = [tuple(r) for r in produced]
    by_timer: dict[str, list[tuple[Any, ...]]] = {}
    for r in segments:
        by_timer.setdefault(r["timer_id"], []).append(tuple(r))
    started = time.perf_counter()
    for i in range(0, len(records), PROJECTION_BATCH):
        part = records[i : i + PROJECTION_BATCH]
        await conn.copy_records_to_table("copy_sla_timers", records=part, columns=list(COLUMNS))
        await conn.copy_records_to_table(
            "copy_sla_segments",
            records=[s for r in part for s in by_timer.get(r[0], ())],
            columns=list(SEGMENT_COLUMNS),
        )
    copy_s = time.perf_counter() - started
    rate, copy_rate = len(events) / ours_s, len(events) / copy_s
    details = {
        "events": len(events),
        "timer_rows": len(records),
        "segment_rows": len(segments),
        "batch": PROJECTION_BATCH,
        "table_rows_before": "the loaded report data",
        "reference": "copy_records_to_table of the resulting timer and segment rows, "
        "same batches, indexed copies",
    }
    return [
        Metric(
            name=name,
            value=rate,
            unit="events/s",
            reference=copy_rate,
            reference_label="copy_records_to_table of the same timer and segment rows, events/s",
            goal=Goal("ratio", ">=", 0.5),
            details=details,
        )
        for name in ("projection_events_per_second", "projection_vs_copy")
    ]


async def _run(profile: Profile, wanted: set[str]) -> list[Metric]:
    out: list[Metric] = []
    with servers(broker=False) as infra:
        url = await create_database(infra.database_url, f"bench_{uuid.uuid4().hex[:8]}")
        conn = await asyncpg.connect(url)
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        try:
            started = time.perf_counter()
            await load(conn, profile.report_rows)
            load_s = time.perf_counter() - started
            print(f"  loaded {profile.report_rows:,} timers in {load_s:.0f} s", flush=True)
            if wanted & {"compliance_vs_group_by", "compliance_p95_ms"}:
                out += [
                    m for m in await bench_compliance(conn, profile.report_rows) if m.name in wanted
                ]
            if "log_page_deep_p95_ms" in wanted:
                out.append(await bench_log_pages(conn, profile.report_rows))
            if wanted & {"csv_rows_per_second", "csv_vs_copy"}:
                out += [
                    m
                    for m in await bench_csv(pool, profile.report_rows, profile.repeats)
                    if m.name in wanted
                ]
            if wanted & {"projection_events_per_second", "projection_vs_copy"}:
                out += [
                    m
                    for m in await bench_projection(conn, profile.projection_events)
                    if m.name in wanted
                ]
        finally:
            await pool.close()
            await conn.close()
    return out


def run(profile: Profile, wanted: set[str]) -> list[Metric]:
    return asyncio.run(_run(profile, wanted))
