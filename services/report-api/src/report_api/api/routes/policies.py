"""GET /v1/policies and /v1/policies/{version}: the policy versions the engine has loaded."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Request, Response

from report_api import csv
from report_api.api.deps import FormatParam, PoolDep, ServicesDep, wants_csv
from report_api.api.responses import csv_response, problem_responses
from report_api.problems import not_found
from report_api.queries.policies import policy_content, policy_versions
from report_api.schemas import PolicyVersionRow

router = APIRouter(tags=["policies"])

COLUMNS = ("version", "first_loaded_at", "source", "sha256", "effective_from", "retarget_open")
CSV_EXAMPLE = (
    "version,first_loaded_at,source,sha256,effective_from,retarget_open\n"
    "sha256:0c1f2e3d4c5b6a79,2026-11-24T09:00:00+00:00,/etc/sla/policy.yaml,9f86d0...,"
    "2026-12-01T00:00:00+00:00,false\n"
)
YAML = "application/yaml"


@router.get(
    "/policies",
    response_model=list[PolicyVersionRow],
    summary="The policy versions the engine has loaded, newest first",
    description="Each version once, with the time the engine first loaded it, the file it came "
    "from, the SHA-256 of its text as loaded, and its `policy.effective_from` (null: it applies "
    "from the start) and `retarget_open`. Needs the `policies:admin` scope.",
    responses={
        **csv_response("The same rows as CSV.", CSV_EXAMPLE),
        **problem_responses(400, 401, 403),
    },
)
async def list_policies(
    request: Request, pool: PoolDep, services: ServicesDep, format: FormatParam = None
) -> Response:
    async with pool.acquire() as conn:
        versions = await policy_versions(conn, schema=services.settings.engine_schema)
    rows = [
        (
            v.version,
            v.first_loaded_at.isoformat(),
            v.source,
            v.sha256,
            None if v.effective_from is None else v.effective_from.isoformat(),
            v.retarget_open,
        )
        for v in versions
    ]
    if wants_csv(request, format):
        text = [(*row[:5], "true" if row[5] else "false") for row in rows]
        return Response(csv.render(COLUMNS, text), media_type="text/csv; charset=utf-8")
    return Response(
        orjson.dumps([dict(zip(COLUMNS, row, strict=True)) for row in rows]),
        media_type="application/json",
    )


@router.get(
    "/policies/{version}",
    summary="One policy version: its YAML as the engine loaded it",
    description="404 when the engine has not recorded that version. Needs `policies:admin`.",
    response_class=Response,
    responses={
        200: {"content": {YAML: {"schema": {"type": "string"}}}, "description": "The YAML."},
        **problem_responses(400, 401, 403, 404),
    },
)
async def get_policy(
    pool: PoolDep,
    services: ServicesDep,
    version: Annotated[
        str,
        Path(
            max_length=80,
            pattern=r"^[A-Za-z0-9:._-]+$",
            description="A version as listed, e.g. `sha256:0c1f2e3d4c5b6a79`.",
        ),
    ],
) -> Response:
    async with pool.acquire() as conn:
        content = await policy_content(
            conn, schema=services.settings.engine_schema, version=version
        )
    if content is None:
        raise not_found(f"no policy version {version!r} is recorded")
    return Response(content, media_type=YAML)
