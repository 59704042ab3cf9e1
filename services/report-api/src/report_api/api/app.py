"""`create_app(settings)`: the one place where the HTTP API is wired.

Nothing connects at import or at creation: the lifespan starts the services (pool, projection
consumer) and stops them on shutdown, after uvicorn has drained the requests in flight.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import iter_route_contexts
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from report_api import problems
from report_api.api.deps import require_scope
from report_api.api.responses import fix_openapi, problem_responses
from report_api.api.routes import compliance, health, log, ownership, policies, tickets, whatif
from report_api.auth import ADMIN_POLICIES, READ_REPORTS
from report_api.config import ApiSettings
from report_api.metrics import Metrics
from report_api.services import Services

logger = logging.getLogger("report_api.http")

DESCRIPTION = """\
Compliance and SLA log reports over the SLA lifecycle events of sla-engine (SPEC section 6).

Every `/v1` route needs `Authorization: Bearer <token>` (a token of `SLA_API_TOKENS`) carrying the
route's scope: `reports:read` for the reports and tickets (a token configured without scopes has
this one), `policies:admin` for the policies and the what-if. No valid token: 401; a token
without the scope: 403 naming it. Errors are
`application/problem+json` (RFC 9457) and name the bad parameter in `invalid_params`. Reports are
JSON by default and CSV with `format=csv` or `Accept: text/csv`; CSV cells that begin with
`= + - @`, tab or carriage return are prefixed with `'` (OWASP CSV injection).
"""
UI_ROUTER = "report_api.api.routes.ui"


class RequestMetrics:
    """Counts requests and times them to the end of the body (streamed CSV included), by route
    template, so that /v1/tickets/{ticket_id}/sla is one series whatever the ticket."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Callable[[], list[Any]]) -> None:
        self.app = app
        self.metrics = metrics
        self._routes = routes
        self._templates: list[tuple[re.Pattern[str], str]] | None = None

    def template(self, path: str) -> str:
        """The path template of the route that `path` matches (with its prefix), or
        `unmatched`, so that a client cannot create series at will."""
        if self._templates is None:
            self._templates = [
                (route.path_regex, route.path)
                for route in self._routes()
                if hasattr(route, "path_regex")
            ]
        for regex, template in self._templates:
            if regex.match(path):
                return str(template)
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        finished = False

        def observe() -> None:
            template = self.template(scope["path"])
            method = scope["method"]
            elapsed = time.perf_counter() - started
            self.metrics.http_requests.labels(template, method, str(status)).inc()
            self.metrics.http_duration.labels(template, method).observe(elapsed)
            logger.info(
                "request",
                extra={
                    "method": method,
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )

        async def send_observed(message: Message) -> None:
            nonlocal status, finished
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True
                observe()

        try:
            await self.app(scope, receive, send_observed)
        finally:
            if not finished:  # the client went away mid-stream, or the app raised
                observe()


def _include_ui(app: FastAPI) -> None:
    """The report page, when its module is installed (it is built separately)."""
    if importlib.util.find_spec(UI_ROUTER) is None:
        return
    module = importlib.import_module(UI_ROUTER)
    app.include_router(module.router)


def create_app(settings: ApiSettings, *, services: Services | None = None) -> FastAPI:
    """The FastAPI app; `services` defaults to the ones the settings describe.

    Raises ConfigError when the settings are not startable (no token and not explicitly open)."""
    metrics = services.metrics if services is not None else Metrics()
    wired = services or Services.from_settings(settings, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await wired.start()
        try:
            yield
        finally:
            await wired.stop()

    app = FastAPI(
        title="SLA report API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=[
            {"name": "reports", "description": "Compliance report and SLA log."},
            {"name": "tickets", "description": "One ticket's timers."},
            {"name": "policies", "description": "The policy versions the engine has loaded."},
            {
                "name": "what-if",
                "description": "History replayed under a candidate policy, beside the live report.",
            },
            {"name": "operations", "description": "Probes and metrics; no token needed."},
        ],
    )
    app.state.services = wired
    problems.install(app)
    app.include_router(health.router)
    guarded = problem_responses(401, 403)
    for router, scope in (
        (compliance.router, READ_REPORTS),
        (log.router, READ_REPORTS),
        (ownership.router, READ_REPORTS),
        (tickets.router, READ_REPORTS),
        (policies.router, ADMIN_POLICIES),
        (whatif.router, ADMIN_POLICIES),
    ):
        app.include_router(
            router, prefix="/v1", dependencies=[Depends(require_scope(scope))], responses=guarded
        )
    _include_ui(app)
    # Included routers keep their routes unprefixed; iter_route_contexts gives the full paths.
    app.add_middleware(
        RequestMetrics, metrics=metrics, routes=lambda: list(iter_route_contexts(app.routes))
    )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            app.openapi_schema = fix_openapi(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
