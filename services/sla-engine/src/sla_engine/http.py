"""The engine's small HTTP surface: /healthz, /readyz, /metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sla_engine.service import EngineService


def create_http_app(service: EngineService) -> Starlette:
    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        db = await service.store.ping()
        ready = service.ready and db
        body = {
            "ready": ready,
            "partitions_restored": service.ready,
            "database": db,
            "partitions": sorted(service.parts),
            "policy_version": service.policy.version,
        }
        if service.problem is not None:
            body["reason"] = service.problem
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ]
    )
