"""FastAPI dependencies: the app's services, the bearer check and the parameter types shared by
the routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import asyncpg
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import StringConstraints

from report_api.auth import READ_REPORTS
from report_api.params import MAX_FILTER_VALUES, MAX_TEXT_LENGTH, TEXT_PATTERN
from report_api.services import Services
from sla_core.events import METRICS

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="An API token from SLA_API_TOKENS (`token` or `token:scope+scope`). Scopes: "
    "`reports:read` for the reports and tickets (a token without scopes has this one), "
    "`policies:admin` for the policies. A token without the route's scope gets a 403 naming it.",
)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_pool(services: ServicesDep) -> asyncpg.Pool:
    return services.pool


PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def require_scope(scope: str) -> Callable[[Services, HTTPAuthorizationCredentials | None], None]:
    """A dependency that lets a request through with a valid token carrying `scope`."""

    def check(services: ServicesDep, credentials: Credentials) -> None:
        services.tokens.verify(None if credentials is None else credentials.credentials, scope)

    return check


require_token = require_scope(READ_REPORTS)


Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_LENGTH, pattern=TEXT_PATTERN)]


def filter_param(what: str) -> object:
    return Query(
        max_length=MAX_FILTER_VALUES,
        description=f"Only these {what} (repeat the parameter for several; "
        f"at most {MAX_FILTER_VALUES}).",
    )


Department = Annotated[list[Text] | None, filter_param("departments")]
Agent = Annotated[list[Text] | None, filter_param("agents (ids)")]
Level = Annotated[list[Text] | None, filter_param("SLA levels")]
Metric = Annotated[list[Text] | None, filter_param(f"metrics ({', '.join(METRICS)})")]
Team = Annotated[list[Text] | None, filter_param("teams (the agent groups that own tickets)")]
BreachTeam = Annotated[
    list[Text] | None, filter_param("teams that held a breached or missed timer at its due")
]
Requester = Annotated[list[Text] | None, filter_param("requesters")]
Ticket = Annotated[list[Text] | None, filter_param("tickets (ids)")]

TimeZoneParam = Annotated[
    str,
    Query(
        max_length=64,
        description="IANA time zone of dates without an offset, of the date/week/month groups "
        "and of the times shown.",
        examples=["Europe/Oslo"],
    ),
]
FormatParam = Annotated[
    str | None,
    Query(
        pattern="^(json|csv)$",
        description="csv: text/csv instead of JSON (as does Accept: text/csv).",
    ),
]


def wants_csv(request: Request, format: str | None) -> bool:
    """CSV when asked by `format=csv`, or by an Accept header naming text/csv and not JSON."""
    if format is not None:
        return format == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept
