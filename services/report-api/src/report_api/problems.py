"""Errors as RFC 9457 problem details (`application/problem+json`), naming the bad parameter.

Every error the API returns goes through here: our own `ProblemError`, FastAPI's request
validation (400, not FastAPI's 422), Starlette's 404/405, a statement timeout (503) and anything
unexpected (500, without internals).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://sla-engine.dev/problems/"


class InvalidParam(BaseModel):
    name: str = Field(description="The query or path parameter, e.g. `tz` or `sort`.")
    reason: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="A URI naming the kind of problem.")
    title: str
    status: int
    detail: str | None = None
    invalid_params: list[InvalidParam] | None = Field(
        None, description="The parameters that were rejected, each with the reason."
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "type": TYPE_BASE + "invalid-parameter",
                    "title": "Invalid request parameter",
                    "status": 400,
                    "detail": "tz: unknown time zone 'Mars/Olympus'",
                    "invalid_params": [{"name": "tz", "reason": "unknown time zone"}],
                }
            ]
        }
    }


class ProblemError(Exception):
    """An error response; raise it anywhere below a route."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        slug: str,
        invalid_params: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.problem = Problem(
            type=TYPE_BASE + slug,
            title=title,
            status=status,
            detail=detail,
            invalid_params=[InvalidParam(name=n, reason=r) for n, r in invalid_params] or None,
        )
        self.headers = dict(headers or {})


def bad_param(name: str, reason: str) -> ProblemError:
    """400 naming one parameter."""
    return ProblemError(
        400,
        "Invalid request parameter",
        f"{name}: {reason}",
        slug="invalid-parameter",
        invalid_params=[(name, reason)],
    )


def not_found(detail: str) -> ProblemError:
    return ProblemError(404, "Not found", detail, slug="not-found")


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def _param_name(loc: tuple[Any, ...]) -> str:
    # ("query", "limit") -> "limit"; ("query", "department", 3) -> "department"
    parts = [str(p) for p in loc[1:] if not isinstance(p, int)] or [str(p) for p in loc]
    return ".".join(parts)


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    params = [(_param_name(tuple(e.get("loc", ()))), str(e.get("msg", ""))) for e in exc.errors()]
    names = ", ".join(dict.fromkeys(n for n, _ in params))
    error = ProblemError(
        400,
        "Invalid request parameter",
        f"invalid: {names}",
        slug="invalid-parameter",
        invalid_params=params,
    )
    return problem_response(error.problem)


async def _problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.problem, exc.headers)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: ("Not found", "not-found"), 405: ("Method not allowed", "method-not-allowed")}
    title, slug = titles.get(exc.status_code, ("HTTP error", "http-error"))
    problem = Problem(
        type=TYPE_BASE + slug, title=title, status=exc.status_code, detail=str(exc.detail)
    )
    return problem_response(problem, exc.headers)


async def _timeout(_: Request, exc: Exception) -> JSONResponse:
    log.warning("query cancelled by statement_timeout", extra={"detail": str(exc)})
    problem = Problem(
        type=TYPE_BASE + "query-timeout",
        title="Query timed out",
        status=503,
        detail="the report took longer than the statement timeout; narrow the range or filters",
    )
    return problem_response(problem, {"Retry-After": "5"})


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc)
    problem = Problem(type=TYPE_BASE + "internal-error", title="Internal server error", status=500)
    return problem_response(problem)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem response."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ProblemError, _problem)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(asyncpg.QueryCanceledError, _timeout)
    app.add_exception_handler(Exception, _unexpected)
