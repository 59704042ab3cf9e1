"""Liveness, readiness and metrics: no token needed (probes and scrapers have none)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from report_api.api.deps import ServicesDep
from report_api.schemas import Health, Readiness

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: the database answers and the projection consumer runs",
    responses={503: {"model": Readiness, "description": "Not ready (body says what is missing)."}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    database = False
    try:
        async with asyncio.timeout(2):
            database = await services.pool.fetchval("SELECT true") is True
    except Exception:
        log.warning("readiness: database unreachable", exc_info=True)
    projection = services.projection_state
    ready = database and projection in {"running", "disabled"}
    body = Readiness(
        status="ready" if ready else "not ready",
        database=database,
        projection=projection,
        archive=services.archive_state,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
