"""The SLA log: timers filtered, sorted and paged with a keyset, or exported whole as CSV.

Each sort key has an index ending in timer_id (migrations 0001 and 0006), so a page at any depth
is an index range scan: `(key, timer_id) > (cursor key, cursor timer_id) ORDER BY key, timer_id
LIMIT n`. Nullable columns sort through COALESCE ('' for text, 'infinity' for times), the same
expressions the indexes hold.

Sorting by `sla` (seconds left). Ended and paused timers have a stored figure; running ones count
down with the clock, which no index can hold. So the page merges two index scans: stored figures
(`remaining_seconds`) and running timers by `due_at`, whose seconds left at `as_of` are
`due_at - as_of` on the wall clock. Under a business-hours calendar the figure shown for a running
timer is business seconds, which orders the same way within one calendar; across calendars, and
between running and stopped timers, the order is by wall-clock time left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from report_api.business_time import SecondsLeft
from report_api.cursor import Cursor
from report_api.problems import bad_param
from report_api.queries.sql import Params, any_of, local_iso, timer_local_iso, where
from report_api.queries.tickets import timer_segments


@dataclass(frozen=True)
class SortKey:
    name: str
    expr: str  # SQL over sla_timers; the expression of its index
    kind: str  # text | time | number: how a cursor carries its value


SORT_KEYS = {
    key.name: key
    for key in (
        SortKey("requester", "COALESCE(requester, '')", "text"),
        SortKey("ticket", "ticket_id", "text"),
        SortKey("department", "COALESCE(department, '')", "text"),
        SortKey("agent", "COALESCE(agent, '')", "text"),
        SortKey("team", "COALESCE(team, '')", "text"),
        SortKey("level", "level", "text"),
        SortKey("metric", "metric", "text"),
        SortKey("started", "started_at", "time"),
        SortKey("due", "COALESCE(due_at, 'infinity'::timestamptz)", "time"),
        SortKey("closed", "COALESCE(stopped_at, 'infinity'::timestamptz)", "time"),
        SortKey("sla", "remaining_seconds", "number"),  # see the module docstring
    )
}
_CAST = {"text": "text", "time": "timestamptz", "number": "float8"}
FILTER_COLUMNS = {
    "department": "department",
    "agent": "agent",
    "team": "team",
    "breach_team": "breach_team",
    "level": "level",
    "metric": "metric",
    "requester": "requester",
    "ticket": "ticket_id",
    "state": "state",
}
STATES = ("running", "breached", "fulfilled", "missed", "cancelled")
ROW_COLUMNS = (
    "timer_id, ticket_id, requester, department, agent, level, metric, calendar, "
    "started_at, due_at, stopped_at, remaining_seconds, state, sla_static, timezone, "
    "timezone_source, cancel_reason, team, breach_agent, breach_team"
)
# Beyond this the index bound of a running timer's sort key is skipped (interval overflow).
_BOUND_LIMIT_S = 1e9


@dataclass(frozen=True)
class Sort:
    key: SortKey
    descending: bool

    @property
    def text(self) -> str:
        return ("-" if self.descending else "") + self.key.name

    @property
    def direction(self) -> str:
        return "DESC" if self.descending else "ASC"

    @property
    def after(self) -> str:
        return "<" if self.descending else ">"


def parse_sort(value: str) -> Sort:
    """`started` or `-started` (descending); 400 naming `sort` for anything else."""
    name = value[1:] if value.startswith("-") else value
    if name not in SORT_KEYS:
        raise bad_param("sort", f"unknown sort key {name!r}; allowed: {', '.join(SORT_KEYS)}")
    return Sort(SORT_KEYS[name], value.startswith("-"))


@dataclass(frozen=True)
class LogQuery:
    start: datetime | None
    end: datetime | None
    filters: Mapping[str, Sequence[str]]  # FILTER_COLUMNS name -> accepted values
    sort: Sort
    as_of: datetime

    def conditions(self, params: Params) -> list[str]:
        clauses = []
        if self.start is not None:
            clauses.append(f"started_at >= {params.add(self.start, 'timestamptz')}")
        if self.end is not None:
            clauses.append(f"started_at < {params.add(self.end, 'timestamptz')}")
        return clauses + any_of(params, self.filters, FILTER_COLUMNS)


def _running_key(as_of: str) -> str:
    return f"EXTRACT(EPOCH FROM due_at - {as_of})::float8"


def sla_sort_sql(as_of: str) -> str:
    """The `sla` sort key of any timer (no index can serve it; CSV exports sort by it)."""
    return f"CASE WHEN sla_static THEN remaining_seconds ELSE {_running_key(as_of)} END"


def _page_sql(query: LogQuery, after: Cursor | None, limit: int) -> tuple[str, list[Any]]:
    params = Params()
    sort = query.sort
    direction, op = sort.direction, sort.after
    n = params.add(limit, "int")
    if sort.key.name != "sla":
        clauses = query.conditions(params)
        expr = sort.key.expr
        if after is not None:
            key = params.add(after.key, _CAST[sort.key.kind])
            clauses.append(f"({expr}, timer_id) {op} ({key}, {params.add(after.timer_id)})")
        sql = (
            f"SELECT {ROW_COLUMNS}, {expr} AS sort_key FROM sla_timers {where(clauses)} "
            f"ORDER BY {expr} {direction}, timer_id {direction} LIMIT {n}"
        )
        return sql, params.values
    as_of = params.add(query.as_of, "timestamptz")
    stored = ["sla_static", *query.conditions(params)]
    running = ["NOT sla_static", *query.conditions(params)]
    running_key = _running_key(as_of)
    if after is not None:
        key = params.add(after.key, "float8")
        timer = params.add(after.timer_id, "text")
        stored.append(f"(remaining_seconds, timer_id) {op} ({key}, {timer})")
        if isinstance(after.key, int | float) and abs(after.key) < _BOUND_LIMIT_S:
            # A slightly loose bound on due_at lets the index start near the cursor; the exact
            # comparison below decides.
            slack = "+ 1" if sort.descending else "- 1"
            bound = "<=" if sort.descending else ">="
            clauses_bound = f"due_at {bound} {as_of} + make_interval(secs => {key} {slack})"
            running.append(clauses_bound)
        running.append(f"({running_key}, timer_id) {op} ({key}, {timer})")
    sql = (
        f"SELECT * FROM ("
        f"(SELECT {ROW_COLUMNS}, remaining_seconds AS sort_key FROM sla_timers {where(stored)} "
        f"ORDER BY remaining_seconds {direction}, timer_id {direction} LIMIT {n}) "
        f"UNION ALL "
        f"(SELECT {ROW_COLUMNS}, {running_key} AS sort_key FROM sla_timers {where(running)} "
        f"ORDER BY due_at {direction}, timer_id {direction} LIMIT {n})"
        f") u ORDER BY sort_key {direction}, timer_id {direction} LIMIT {n}"
    )
    return sql, params.values


@dataclass
class LogPageResult:
    rows: list[dict[str, Any]]
    next_cursor: Cursor | None


def log_row(
    record: Mapping[str, Any], zone: ZoneInfo, seconds_left: SecondsLeft, as_of: datetime
) -> dict[str, Any]:
    """A timer as a row of the SLA log (JSON)."""
    sla = seconds_left.of_timer(
        static=record["sla_static"],
        remaining_seconds=record["remaining_seconds"],
        calendar=record["calendar"],
        due_at=record["due_at"],
        now=as_of,
        timezone=record["timezone"],
    )
    return {
        "timer_id": record["timer_id"],
        "requester": record["requester"],
        "ticket": record["ticket_id"],
        "department": record["department"],
        "agent": record["agent"],
        "level": record["level"],
        "metric": record["metric"],
        "sla_started": local_iso(record["started_at"], zone),
        "due_date": local_iso(record["due_at"], zone),
        "closed": local_iso(record["stopped_at"], zone),
        "sla_seconds": sla,
        "state": record["state"],
        "timezone": record["timezone"],
        "timezone_source": record["timezone_source"],
        "due_local": timer_local_iso(record["due_at"], record["timezone"]),
        "cancel_reason": record["cancel_reason"],
        "team": record["team"],
        "breach_agent": record["breach_agent"],
        "breach_team": record["breach_team"],
    }


async def log_page(
    conn: asyncpg.Connection,
    *,
    query: LogQuery,
    after: Cursor | None,
    limit: int,
    zone: ZoneInfo,
    seconds_left: SecondsLeft,
) -> LogPageResult:
    """One page of `limit` rows after `after` (None: the first page) in the query's order."""
    sql, values = _page_sql(query, after, limit + 1)
    records = await conn.fetch(sql, *values)
    more = len(records) > limit
    records = records[:limit]
    rows = [log_row(r, zone, seconds_left, query.as_of) for r in records]
    held = await timer_segments(conn, timer_ids=[r["timer_id"] for r in records], zone=zone)
    for row in rows:
        row["segments"] = held.get(row["timer_id"], [])
    next_cursor = None
    if more and records:
        last = records[-1]
        next_cursor = Cursor(
            sort=query.sort.text, key=last["sort_key"], timer_id=last["timer_id"], as_of=query.as_of
        )
    return LogPageResult(rows=rows, next_cursor=next_cursor)


CSV_COLUMNS = (
    "requester",
    "ticket",
    "department",
    "agent",
    "level",
    "metric",
    "sla_started",
    "due_date",
    "closed",
    "sla_seconds",
    "state",
    "timezone",
    "timezone_source",
    "due_local",
    "cancel_reason",
    "team",
    "breach_team",
    "segments",
)


def _segments_cell() -> str:
    """A timer's segments in one CSV cell, "agent/team=business seconds" in order with ";"
    between; the agent, which may begin the cell, is neutralised as any cell is."""
    from report_api.csv import neutralise_sql

    return (
        f"(SELECT string_agg(COALESCE({neutralise_sql('g.agent')}, '') || '/' || "
        "COALESCE(g.team, '') || '=' || g.business_seconds::text, ';' ORDER BY g.n) "
        "FROM sla_segments g WHERE g.timer_id = sla_timers.timer_id)"
    )


async def business_seconds_left(
    conn: asyncpg.Connection, *, query: LogQuery, seconds_left: SecondsLeft
) -> tuple[list[str], list[int]]:
    """(timer ids, seconds left) of the matching running timers whose calendar the policy knows.

    Business time is Python (the policy's calendars); the CSV export joins these figures in and
    counts wall-clock seconds for every other running timer."""
    calendars = [c for c in seconds_left.calendars() if not seconds_left.uses_wall_clock(c)]
    if not calendars:
        return [], []
    params = Params()
    clauses = [
        "NOT sla_static",
        f"calendar = ANY({params.add(calendars, 'text[]')})",
        *query.conditions(params),
    ]
    records = await conn.fetch(
        f"SELECT timer_id, calendar, due_at, timezone FROM sla_timers {where(clauses)}",
        *params.values,
    )
    return (
        [r["timer_id"] for r in records],
        [seconds_left(r["calendar"], query.as_of, r["due_at"], r["timezone"]) for r in records],
    )


def export_sql(query: LogQuery, business: tuple[list[str], list[int]]) -> tuple[str, list[Any]]:
    """SELECT of every matching row as CSV cells, in the sort order, for COPY ... TO STDOUT.

    String cells are neutralised against formula injection (`csv.neutralise_sql`); times are
    RFC 3339 in the session zone, which the caller sets to the request's tz."""
    from report_api.csv import neutralise_sql, rfc3339_in_zone_sql, rfc3339_sql

    params = Params()
    as_of = params.add(query.as_of, "timestamptz")
    join, running = "", f"floor({_running_key(as_of)})::int8"
    if business[0]:
        ids, seconds = params.add(business[0], "text[]"), params.add(business[1], "int8[]")
        join = f"LEFT JOIN unnest({ids}, {seconds}) AS b(timer_id, seconds) USING (timer_id)"
        running = f"COALESCE(b.seconds, {running})"
    clauses = query.conditions(params)
    sort = query.sort
    key = sla_sort_sql(as_of) if sort.key.name == "sla" else sort.key.expr
    sla_seconds = f"CASE WHEN sla_static THEN floor(remaining_seconds)::int8 ELSE {running} END"
    cells = {
        "requester": neutralise_sql("requester"),
        "ticket": neutralise_sql("ticket_id"),
        "department": neutralise_sql("department"),
        "agent": neutralise_sql("agent"),
        "level": neutralise_sql("level"),
        "metric": neutralise_sql("metric"),
        "sla_started": rfc3339_sql("started_at"),
        "due_date": rfc3339_sql("due_at"),
        "closed": rfc3339_sql("stopped_at"),
        "sla_seconds": sla_seconds,
        "state": "state",
        "timezone": "timezone",
        "timezone_source": "timezone_source",
        "due_local": rfc3339_in_zone_sql("due_at", "timezone"),
        "cancel_reason": neutralise_sql("cancel_reason"),
        "team": neutralise_sql("team"),
        "breach_team": neutralise_sql("breach_team"),
        "segments": _segments_cell(),
    }
    assert tuple(cells) == CSV_COLUMNS
    columns = ", ".join(f"{expr} AS {name}" for name, expr in cells.items())
    sql = (
        f"SELECT {columns} FROM sla_timers {join} "
        f"{where(clauses)} ORDER BY {key} {sort.direction}, timer_id {sort.direction}"
    )
    return sql, params.values
