"""GET /v1/reports/log: the SLA log, a keyset-paged JSON page or every matching row as CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from report_api import csv
from report_api.api.deps import (
    Agent,
    BreachTeam,
    Department,
    FormatParam,
    Level,
    Metric,
    PoolDep,
    Requester,
    ServicesDep,
    Team,
    Ticket,
    TimeZoneParam,
    filter_param,
    wants_csv,
)
from report_api.api.responses import csv_response, problem_responses
from report_api.params import parse_range, parse_zone
from report_api.problems import bad_param
from report_api.queries.log import (
    SORT_KEYS,
    STATES,
    LogQuery,
    business_seconds_left,
    export_sql,
    log_page,
    parse_sort,
)
from report_api.schemas import LogPage

router = APIRouter(tags=["reports"])

CSV_EXAMPLE = (
    "requester,ticket,department,agent,level,metric,sla_started,due_date,closed,sla_seconds,state,"
    "timezone,timezone_source,due_local,cancel_reason,team,breach_team,segments\n"
    "kari@example.no,T-1001,support,,standard,first_answer,2026-11-20T16:00:00+01:00,"
    "2026-11-23T12:00:00+01:00,,-120,breached,Europe/Oslo,calendar,2026-11-23T12:00:00+01:00,,"
    "l2,l2,/l1=7200;/l2=7200\n"
    "kari@example.no,T-1002,support,ana,standard,periodic_update,2026-11-20T16:00:00+01:00,"
    "2026-11-25T16:00:00+01:00,2026-11-23T10:00:00+01:00,79200,cancelled,Europe/Oslo,calendar,"
    "2026-11-25T16:00:00+01:00,closed,,,ana/=7200\n"
)
State = Annotated[list[str] | None, filter_param(f"states ({', '.join(STATES)})")]


@router.get(
    "/reports/log",
    response_model=LogPage,
    summary="SLA log: every timer with its due date, stop and seconds left",
    description=(
        "Filtered on `started_at` in [`from`, `to`) and the dimensions; sorted by `sort` with "
        "the timer id as tiebreak. JSON pages are keyset-paged: pass `next_cursor` back as "
        "`cursor` with the same `sort` (rows that arrive meanwhile never shift a page). CSV "
        "(`format=csv` or `Accept: text/csv`) streams every matching row and ignores `limit` "
        "and `cursor`."
    ),
    responses={
        **csv_response("Every matching row as CSV.", CSV_EXAMPLE),
        **problem_responses(400, 401, 503),
    },
)
async def log_report(
    request: Request,
    pool: PoolDep,
    services: ServicesDep,
    from_: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=64,
            description="Timers started at or after: a date (local midnight in tz) or an "
            "RFC 3339 date-time.",
            examples=["2026-10-01"],
        ),
    ] = None,
    to: Annotated[
        str | None,
        Query(max_length=64, description="Timers started before (exclusive), like from."),
    ] = None,
    tz: TimeZoneParam = "UTC",
    department: Department = None,
    agent: Agent = None,
    team: Team = None,
    breach_team: BreachTeam = None,
    level: Level = None,
    metric: Metric = None,
    requester: Requester = None,
    ticket: Ticket = None,
    state: State = None,
    sort: Annotated[
        str,
        Query(
            max_length=20,
            description=f"One of {', '.join(SORT_KEYS)}; a leading `-` sorts descending.",
            examples=["-started", "due"],
        ),
    ] = "-started",
    limit: Annotated[int, Query(ge=1, le=1000, description="Rows per page.")] = 100,
    cursor: Annotated[
        str | None,
        Query(max_length=2048, description="`next_cursor` of the previous page."),
    ] = None,
    format: FormatParam = None,
) -> Response:
    zone = parse_zone(tz)
    start, end = parse_range(from_, to, zone)
    order = parse_sort(sort)
    for value in state or ():
        if value not in STATES:
            raise bad_param("state", f"unknown state {value!r}; allowed: {', '.join(STATES)}")
    filters = {
        "department": department,
        "agent": agent,
        "team": team,
        "breach_team": breach_team,
        "level": level,
        "metric": metric,
        "requester": requester,
        "ticket": ticket,
        "state": state,
    }
    active = {k: v for k, v in filters.items() if v}
    after = None
    if cursor is not None and not wants_csv(request, format):
        after = services.cursors.decode(cursor, sort=order.text, kind=order.key.kind)
    as_of = after.as_of if after is not None else datetime.now(UTC)
    query = LogQuery(start=start, end=end, filters=active, sort=order, as_of=as_of)
    if wants_csv(request, format):
        async with pool.acquire() as conn:
            business = await business_seconds_left(
                conn, query=query, seconds_left=services.seconds_left
            )
        sql, args = export_sql(query, business)
        chunks = await csv.stream_copy(
            pool,
            sql,
            args,
            timezone=zone.key,
            statement_timeout_ms=services.settings.export_statement_timeout_ms,
        )
        return StreamingResponse(
            chunks,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="sla-log.csv"'},
        )
    async with pool.acquire() as conn:
        page = await log_page(
            conn,
            query=query,
            after=after,
            limit=limit,
            zone=zone,
            seconds_left=services.seconds_left,
        )
    body = {
        "rows": page.rows,
        "next_cursor": None
        if page.next_cursor is None
        else services.cursors.encode(page.next_cursor),
        "sort": order.text,
        "limit": limit,
        "as_of": as_of.astimezone(zone).isoformat(),
    }
    return Response(orjson.dumps(body), media_type="application/json")
