"""GET /v1/reports/compliance."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response

from report_api import csv
from report_api.api.deps import (
    Agent,
    Department,
    FormatParam,
    Level,
    Metric,
    PoolDep,
    Team,
    TimeZoneParam,
    wants_csv,
)
from report_api.api.responses import csv_response, problem_responses
from report_api.params import parse_list, parse_range, parse_zone
from report_api.problems import bad_param
from report_api.queries.compliance import GROUP_KEYS, compliance, group_value
from report_api.schemas import ComplianceFigures, ComplianceReport

router = APIRouter(tags=["reports"])

FIGURES = tuple(ComplianceFigures.model_fields)
CSV_EXAMPLE = (
    "date,department,fulfilled,fulfilled_avg_seconds,fulfilled_max_seconds,"
    "fulfilled_min_seconds,missed,missed_avg_seconds,missed_max_seconds,missed_min_seconds,"
    "compliance_ratio\n"
    "2026-10-25,support,41,1830.5,3540.0,60.0,3,5400.0,7200.0,3660.0,0.9318\n"
    "total,,41,1830.5,3540.0,60.0,3,5400.0,7200.0,3660.0,0.9318\n"
)


@router.get(
    "/reports/compliance",
    response_model=ComplianceReport,
    summary="SLA compliance: fulfilled and missed by date, week, month and dimensions",
    description=(
        "Timers count in the group of their `started_at` (local calendar of `tz`). `missed` "
        "counts every timer that went past due, running or ended; the time figures are "
        "business seconds from start to stop over ended timers only. Cancelled timers and "
        "deleted tickets are left out. As CSV the last row holds the totals, with `total` in "
        "the first column. `attribute` says whose a breached or missed timer is when grouping "
        "or filtering by `agent` or `team`: `last` (default) the ticket's last holder, "
        "`at_breach` the agent and team that held the ticket at its due."
    ),
    responses={
        **csv_response("The same rows as CSV, then a totals row.", CSV_EXAMPLE),
        **problem_responses(400, 401, 503),
    },
)
async def compliance_report(
    request: Request,
    pool: PoolDep,
    from_: Annotated[
        str,
        Query(
            alias="from",
            max_length=64,
            description="Start (inclusive): a date (local midnight in tz) or an RFC 3339 "
            "date-time.",
            examples=["2026-10-01"],
        ),
    ],
    to: Annotated[
        str,
        Query(max_length=64, description="End (exclusive), like from.", examples=["2026-11-01"]),
    ],
    tz: TimeZoneParam = "UTC",
    group_by: Annotated[
        str,
        Query(
            max_length=200,
            description=f"Comma list of {', '.join(GROUP_KEYS)}.",
            examples=["date,department"],
        ),
    ] = "date",
    department: Department = None,
    agent: Agent = None,
    level: Level = None,
    metric: Metric = None,
    team: Team = None,
    attribute: Annotated[
        Literal["last", "at_breach"],
        Query(
            description="Whose a breached or missed timer is: the ticket's last agent and team "
            "(`last`), or those that held it at the due (`at_breach`).",
        ),
    ] = "last",
    format: FormatParam = None,
) -> Response:
    zone = parse_zone(tz)
    start, end = parse_range(from_, to, zone)
    if start is None or end is None:  # both are required parameters
        raise bad_param("from", "required")
    keys = parse_list(group_by, "group_by", GROUP_KEYS, "date")
    filters = {
        "department": department,
        "agent": agent,
        "level": level,
        "metric": metric,
        "team": team,
    }
    async with pool.acquire() as conn:
        result = await compliance(
            conn,
            start=start,
            end=end,
            zone=zone,
            group_by=keys,
            filters={k: v for k, v in filters.items() if v},
            attribute=attribute,
        )
    rows = [
        {**{k: group_value(v) for k, v in group.items()}, **figures.as_report()}
        for group, figures in result.rows
    ]
    totals = result.totals.as_report()
    if wants_csv(request, format):
        lines: list[list[Any]] = [[row[k] for k in (*keys, *FIGURES)] for row in rows]
        lines.append(["total", *([""] * (len(keys) - 1)), *(totals[k] for k in FIGURES)])
        return Response(
            csv.render([*keys, *FIGURES], lines),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="sla-compliance.csv"'},
        )
    body = {
        "from": start.astimezone(zone).isoformat(),
        "to": end.astimezone(zone).isoformat(),
        "tz": zone.key,
        "group_by": keys,
        "attribute": attribute,
        "rows": rows,
        "totals": totals,
    }
    return Response(orjson.dumps(body), media_type="application/json")
