"""OpenAPI response declarations shared by the routes: problem details and CSV alternatives."""

from __future__ import annotations

from typing import Any

from report_api.problems import PROBLEM_JSON, Problem

_DESCRIPTIONS = {
    400: "A parameter is invalid; `invalid_params` names it.",
    401: "No bearer token, or not a valid one (see WWW-Authenticate).",
    403: "The token does not carry the route's scope (the problem names it).",
    404: "Not found.",
    422: "The body is well-formed but not usable; the problem names where (a policy's path and "
    "line).",
    503: "The query ran past the statement timeout.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Responses with a problem+json body (`fix_openapi` moves the schema to that media type)."""
    return {status: {"model": Problem, "description": _DESCRIPTIONS[status]} for status in statuses}


def csv_response(description: str, example: str) -> dict[int | str, dict[str, Any]]:
    """The text/csv alternative of a 200 response."""
    return {
        200: {
            "description": f"JSON by default. {description}",
            "content": {"text/csv": {"schema": {"type": "string"}, "example": example}},
        }
    }


_PROBLEM_BODY = {"schema": {"$ref": "#/components/schemas/Problem"}}


def fix_openapi(document: dict[str, Any]) -> dict[str, Any]:
    """Make the generated document say what the app does.

    - Error responses are application/problem+json, not application/json.
    - FastAPI's automatic 422 responses go: invalid parameters are answered with 400 (a route's
      own 422, a problem, stays).
    """
    for path in document.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            automatic = responses.get("422", {}).get("content", {}).get("application/json", {})
            if "HTTPValidationError" in str(automatic.get("schema", {})):
                responses.pop("422")
            for status, response in responses.items():
                body = response.get("content", {}).get("application/json")
                if status.startswith(("4", "5")) and body == _PROBLEM_BODY:
                    response["content"] = {PROBLEM_JSON: body}
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document
