"""GET /v1/tickets/{ticket_id}/sla: one ticket's timers and their state now."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Response

from report_api.api.deps import PoolDep, ServicesDep, TimeZoneParam
from report_api.api.responses import problem_responses
from report_api.params import MAX_TEXT_LENGTH, TEXT_PATTERN, parse_zone
from report_api.problems import not_found
from report_api.queries.tickets import ticket_timers
from report_api.schemas import TicketSla

router = APIRouter(tags=["tickets"])


@router.get(
    "/tickets/{ticket_id}/sla",
    response_model=TicketSla,
    summary="One ticket's SLA timers and their state now",
    description="404 when no timer of the ticket is known, or the ticket was deleted.",
    responses=problem_responses(400, 401, 404, 503),
)
async def ticket_sla(
    pool: PoolDep,
    services: ServicesDep,
    ticket_id: Annotated[
        str,
        Path(
            max_length=MAX_TEXT_LENGTH,
            pattern=TEXT_PATTERN,
            description="The helpdesk's ticket id.",
        ),
    ],
    tz: TimeZoneParam = "UTC",
) -> Response:
    zone = parse_zone(tz)
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        timers = await ticket_timers(
            conn, ticket_id=ticket_id, now=now, seconds_left=services.seconds_left, zone=zone
        )
    if timers is None:
        raise not_found(f"no SLA timers for ticket {ticket_id!r}")
    body = {"ticket": ticket_id, "as_of": now.astimezone(zone).isoformat(), "timers": timers}
    return Response(orjson.dumps(body), media_type="application/json")
