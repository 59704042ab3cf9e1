"""POST /v1/what-if, GET /v1/what-if/{id} and GET /v1/what-if/{id}/tickets (SPEC section 9)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, Response

from report_api import csv
from report_api.api.deps import FormatParam, PoolDep, ServicesDep, wants_csv
from report_api.api.responses import csv_response, problem_responses
from report_api.cursor import Cursor
from report_api.params import parse_list, parse_range, parse_zone
from report_api.problems import Problem, ProblemError, bad_param, not_found
from report_api.queries.compliance import GROUP_KEYS
from report_api.whatif import store
from report_api.whatif.jobs import WhatIf
from report_api.whatif.schemas import (
    ChangedTimersPage,
    WhatIfAccepted,
    WhatIfJob,
    WhatIfRequest,
)
from sla_core.policy import Policy, PolicyError, parse_policy

router = APIRouter(tags=["what-if"])

CURSOR_SORT = "what-if"
JobId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9-]+$", description="A job id.")]
CSV_EXAMPLE = (
    "ticket_id,timer_id,metric,cycle,level,live,live_due_at,candidate,candidate_due_at\n"
    "T-1042,T-1042:first_answer:1,first_answer,1,standard,missed,2026-11-02T12:00:00+00:00,"
    "fulfilled,2026-11-02T16:00:00+00:00\n"
)
_POLICY_422: dict[int | str, dict[str, Any]] = {
    422: {
        "model": Problem,
        "description": "The candidate policy is invalid: `invalid_params` names each problem's "
        "path (`policy.<path>`) and line.",
    }
}


def invalid_policy(error: PolicyError, field: str = "policy") -> ProblemError:
    """422 naming every problem of the candidate policy (or of `field`, one of the older
    versions) with its path and line."""
    params = [
        (
            field + (f".{p.path}" if p.path else ""),
            (f"line {p.line}: " if p.line is not None else "") + p.message,
        )
        for p in error.problems
    ]
    return ProblemError(
        422,
        "Invalid policy",
        "; ".join(str(p) for p in error.problems),
        slug="invalid-policy",
        invalid_params=params,
    )


@router.post(
    "/what-if",
    status_code=202,
    response_model=WhatIfAccepted,
    summary="Start a what-if: replay history under a candidate policy",
    description="Replays the archived ticket events of the tickets with an event in "
    "[from, to) through the engine's domain code under the candidate policy, and compares the "
    "compliance report of the timers started in [from, to) with the live one. Answers 202 with "
    "the job (follow `href`); writes nothing to the projection or to Kafka. Needs "
    "`policies:admin`.",
    responses={**problem_responses(400), **_POLICY_422},
)
async def start_what_if(
    body: WhatIfRequest, pool: PoolDep, services: ServicesDep, response: Response
) -> WhatIfAccepted:
    zone = parse_zone(body.tz)
    start, end = parse_range(body.from_, body.to, zone)
    if start is None or end is None:  # both are required fields
        raise bad_param("from", "required")
    raw_keys = body.group_by if isinstance(body.group_by, str) else ",".join(body.group_by)
    keys = parse_list(raw_keys, "group_by", GROUP_KEYS, "level")
    try:
        policy = parse_policy(body.policy, source="policy")
    except PolicyError as exc:
        raise invalid_policy(exc) from None
    older: list[Policy] = []
    for n, text in enumerate(body.older_policies):
        try:
            older.append(parse_policy(text, source="policy"))
        except PolicyError as exc:
            raise invalid_policy(exc, f"older_policies[{n}]") from None
    jobs = services.whatif
    if jobs is None:
        raise ProblemError(503, "What-if unavailable", "this replica runs no jobs", slug="busy")
    job_id = str(uuid.uuid4())
    request = {"from": body.from_, "to": body.to, "tz": zone.key, "group_by": keys}
    async with pool.acquire() as conn:
        await store.create_job(
            conn, job_id=job_id, request=request, policy=body.policy, policy_version=policy.version
        )
    jobs.submit(pool, job_id, WhatIf(policy, start, end, zone, keys, tuple(older)))
    href = f"/v1/what-if/{job_id}"
    response.headers["Location"] = href
    return WhatIfAccepted(id=job_id, status="queued", href=href)


@router.get(
    "/what-if/{job_id}",
    response_model=WhatIfJob,
    summary="A what-if job: its progress, then the live and candidate reports side by side",
    description="`result` is set once `status` is done: per group the live and the candidate "
    "`fulfilled`, `missed` and `compliance_ratio` and their difference, and how many timers "
    "change verdict. A failed job says why in `error`. Needs `policies:admin`.",
    responses=problem_responses(400, 404),
)
async def get_what_if(pool: PoolDep, job_id: JobId) -> Response:
    async with pool.acquire() as conn:
        job = await store.get_job(conn, job_id)
    if job is None:
        raise not_found(f"no what-if job {job_id!r}")
    total = job.events_total
    fraction = None
    if job.status == "done":
        fraction = 1.0
    elif total:
        fraction = round(min(job.events_done / total, 1.0), 4)
    elif total == 0:
        fraction = 0.0
    body = {
        "id": job.id,
        "status": job.status,
        "progress": {"events_done": job.events_done, "events_total": total, "fraction": fraction},
        "request": job.request,
        "policy_version": job.policy_version,
        "error": job.error,
        "result": job.result,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
    }
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/what-if/{job_id}/tickets",
    response_model=ChangedTimersPage,
    summary="The timers whose verdict the candidate changes, keyset-paged",
    description="Ordered by ticket, then timer. A verdict is null on the side where the timer "
    "does not exist. CSV (`format=csv` or Accept: text/csv) holds every row. Needs "
    "`policies:admin`.",
    responses={
        **csv_response("Every changed timer as CSV.", CSV_EXAMPLE),
        **problem_responses(400, 404),
    },
)
async def what_if_tickets(
    request: Request,
    pool: PoolDep,
    services: ServicesDep,
    job_id: JobId,
    limit: Annotated[int, Query(ge=1, le=1000, description="Rows per page.")] = 100,
    cursor: Annotated[
        str | None, Query(max_length=2048, description="`next_cursor` of the previous page.")
    ] = None,
    format: FormatParam = None,
) -> Response:
    as_csv = wants_csv(request, format)
    after = None
    if cursor is not None and not as_csv:
        decoded = services.cursors.decode(cursor, sort=CURSOR_SORT, kind="text")
        after = (str(decoded.key), decoded.timer_id)
    async with pool.acquire() as conn:
        job = await store.get_job(conn, job_id)
        if job is None:
            raise not_found(f"no what-if job {job_id!r}")
        rows = await store.changed_timers(
            conn, job_id, after=after, limit=None if as_csv else limit + 1
        )
    items = [_item(r) for r in rows]
    if as_csv:
        lines = [[item[c] for c in store.TICKET_COLUMNS] for item in items]
        return Response(
            csv.render(store.TICKET_COLUMNS, lines),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="what-if-tickets.csv"'},
        )
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        next_cursor = services.cursors.encode(
            Cursor(
                sort=CURSOR_SORT,
                key=last["ticket_id"],
                timer_id=last["timer_id"],
                as_of=datetime.now(UTC),
            )
        )
    return Response(
        orjson.dumps({"items": items, "next_cursor": next_cursor}), media_type="application/json"
    )


def _item(row: Any) -> dict[str, Any]:
    item = dict(zip(store.TICKET_COLUMNS, row, strict=True))
    for key in ("live_due_at", "candidate_due_at"):
        if item[key] is not None:
            item[key] = item[key].isoformat()
    return item
