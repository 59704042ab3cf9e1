"""GET /v1/reports/ownership: time in hands per agent or team (SPEC section 11)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response

from report_api import csv
from report_api.api.deps import (
    Department,
    FormatParam,
    Level,
    Metric,
    PoolDep,
    TimeZoneParam,
    wants_csv,
)
from report_api.api.responses import csv_response, problem_responses
from report_api.params import parse_range, parse_zone
from report_api.problems import bad_param
from report_api.queries.ownership import ownership
from report_api.schemas import OwnershipReport

router = APIRouter(tags=["reports"])

FIGURES = ("held_seconds", "timers", "breaches")
CSV_EXAMPLE = "team,held_seconds,timers,breaches\nsupport-l1,10800.0,2,1\nsupport-l2,21600.0,2,1\n"


@router.get(
    "/reports/ownership",
    response_model=OwnershipReport,
    summary="Time in hands: business seconds held, timers touched, breaches, per agent or team",
    description=(
        "Over the timers started in [from, to): per agent or team (`group_by`), the business "
        "seconds its ownership segments add up to (pauses left out), the timers it held for "
        "any part, and the timers that breached while it held the ticket. A timer's segments "
        "are known once it breached or ended."
    ),
    responses={
        **csv_response("The same rows as CSV.", CSV_EXAMPLE),
        **problem_responses(400, 401, 503),
    },
)
async def ownership_report(
    request: Request,
    pool: PoolDep,
    from_: Annotated[
        str,
        Query(alias="from", max_length=64, description="Start (inclusive), on started_at."),
    ],
    to: Annotated[str, Query(max_length=64, description="End (exclusive), like from.")],
    tz: TimeZoneParam = "UTC",
    group_by: Annotated[
        Literal["agent", "team"], Query(description="Whose hands: agent or team.")
    ] = "team",
    department: Department = None,
    level: Level = None,
    metric: Metric = None,
    format: FormatParam = None,
) -> Response:
    zone = parse_zone(tz)
    start, end = parse_range(from_, to, zone)
    if start is None or end is None:
        raise bad_param("from", "required")
    filters = {"department": department, "level": level, "metric": metric}
    async with pool.acquire() as conn:
        found = await ownership(
            conn,
            start=start,
            end=end,
            holder=group_by,
            filters={k: v for k, v in filters.items() if v},
        )
    rows: list[dict[str, Any]] = [
        {
            group_by: r.holder,
            "held_seconds": r.held_seconds,
            "timers": r.timers,
            "breaches": r.breaches,
        }
        for r in found
    ]
    if wants_csv(request, format):
        return Response(
            csv.render(
                [group_by, *FIGURES], [[row[k] for k in (group_by, *FIGURES)] for row in rows]
            ),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="sla-ownership.csv"'},
        )
    body = {
        "from": start.astimezone(zone).isoformat(),
        "to": end.astimezone(zone).isoformat(),
        "tz": zone.key,
        "group_by": group_by,
        "rows": rows,
    }
    return Response(orjson.dumps(body), media_type="application/json")
