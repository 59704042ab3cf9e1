"""Every error path answers application/problem+json naming the bad parameter; tokens, probes
and metrics."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from report_api.api.app import create_app
from report_api.config import ConfigError
from report_api.queries.log import CSV_COLUMNS
from report_api.schemas import LogRow
from tests.integration.report_api.conftest import Stream, open_client

RANGE = {"from": "2026-01-01", "to": "2026-02-01"}


def assert_problem(response: httpx.Response, status: int, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    if param is not None:
        assert param in [p["name"] for p in body["invalid_params"]], body


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/v1/reports/compliance", {**RANGE, "tz": "Mars/Olympus"}, "tz"),
        ("/v1/reports/compliance", {**RANGE, "tz": "../../etc/passwd"}, "tz"),
        ("/v1/reports/compliance", {**RANGE, "group_by": "date,planet"}, "group_by"),
        ("/v1/reports/compliance", {**RANGE, "group_by": "date,,agent"}, "group_by"),
        ("/v1/reports/compliance", {"from": "yesterday", "to": "2026-02-01"}, "from"),
        ("/v1/reports/compliance", {"from": "2026-02-01", "to": "2026-01-01"}, "to"),
        ("/v1/reports/compliance", {"from": "0001-01-01", "to": "9999-12-31"}, "from"),
        ("/v1/reports/compliance", {"from": "2000-01-01", "to": "2026-01-01"}, "to"),
        ("/v1/reports/compliance", {"to": "2026-01-01"}, "from"),
        ("/v1/reports/compliance", {**RANGE, "format": "xml"}, "format"),
        ("/v1/reports/log", {"sort": "-colour"}, "sort"),
        ("/v1/reports/log", {"limit": "0"}, "limit"),
        ("/v1/reports/log", {"limit": "1001"}, "limit"),
        ("/v1/reports/log", {"limit": "ten"}, "limit"),
        ("/v1/reports/log", {"state": "sleeping"}, "state"),
        ("/v1/reports/log", {"cursor": "not-a-cursor"}, "cursor"),
        ("/v1/reports/log", {"cursor": "eyJ2IjoxfQ.AAAAAAAAAAAAAAAAAAAAAA"}, "cursor"),
        ("/v1/reports/log", {"department": "x" * 201}, "department"),
        ("/v1/tickets/T-1/sla", {"tz": "Nowhere"}, "tz"),
    ],
)
async def test_bad_parameters_are_named(
    client: httpx.AsyncClient, path: str, params: dict[str, Any], param: str
) -> None:
    assert_problem(await client.get(path, params=params), 400, param)


async def test_cursor_of_another_sort_is_refused(stream: Stream, client: httpx.AsyncClient) -> None:
    from report_api.testing import sla_event

    events = [
        sla_event(
            "sla.started", f"E{i}", time="2026-01-05T10:00:00Z", started="2026-01-05T10:00:00Z"
        )
        for i in range(3)
    ]
    await stream.feed(events)
    page = (await client.get("/v1/reports/log", params={"limit": 1, "sort": "due"})).json()
    assert page["next_cursor"]
    response = await client.get(
        "/v1/reports/log", params={"limit": 1, "sort": "-due", "cursor": page["next_cursor"]}
    )
    assert_problem(response, 400, "cursor")
    tampered = page["next_cursor"][:-2] + ("AA" if not page["next_cursor"].endswith("AA") else "BB")
    response = await client.get(
        "/v1/reports/log", params={"limit": 1, "sort": "due", "cursor": tampered}
    )
    assert_problem(response, 400, "cursor")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": "Basic eDp5"}],
)
async def test_tokens_are_required(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(transport=client._transport, base_url="http://report-api") as bare:
        for path in ("/v1/reports/compliance", "/v1/reports/log", "/v1/tickets/x/sla"):
            response = await bare.get(path, params=RANGE, headers=headers)
            assert_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer")


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/nothing"), 404)
    assert_problem(await client.post("/v1/reports/log"), 405)
    assert_problem(await client.get("/v1/tickets/never-seen/sla"), 404)


async def test_probes_and_metrics_need_no_token(client: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(transport=client._transport, base_url="http://report-api") as bare:
        assert (await bare.get("/healthz")).json() == {"status": "ok"}
        ready = await bare.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "database": True,
            "projection": "disabled",
            "archive": "disabled",
        }
        metrics = (await bare.get("/metrics")).text
    assert "report_api_projection_lag_seconds" in metrics
    assert (
        'report_api_http_requests_total{method="GET",route="/v1/tickets/{ticket_id}/sla"' in metrics
    )


def test_no_token_means_no_start(stream: Stream) -> None:
    with pytest.raises(ConfigError, match="SLA_API_TOKENS"):
        create_app(stream.settings(api_tokens=""))
    with pytest.raises(ConfigError, match="placeholder"):
        create_app(stream.settings(api_tokens="changeme"))


async def test_explicitly_open_serves_without_token(stream: Stream) -> None:
    async for client in open_client(stream.settings(api_tokens="", api_open=True)):
        response = await client.get("/v1/reports/log", headers={"Authorization": ""})
        assert response.status_code == 200


async def test_openapi_document_is_complete(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert set(document["paths"]) >= {
        "/v1/reports/compliance",
        "/v1/reports/log",
        "/v1/tickets/{ticket_id}/sla",
        "/healthz",
        "/readyz",
        "/metrics",
    }
    log = document["paths"]["/v1/reports/log"]["get"]
    assert log["security"] == [{"bearerAuth": []}]
    assert "text/csv" in log["responses"]["200"]["content"]
    assert "application/problem+json" in log["responses"]["400"]["content"]
    assert "422" not in log["responses"]
    schemas = document["components"]["schemas"]
    assert schemas["LogRow"]["examples"] and schemas["ComplianceRow"]["examples"]
    # the timer's own zone (SPEC 8), in the log, its CSV and the ticket's timers
    zone_fields = {"timezone", "timezone_source", "due_local"}
    for model in ("LogRow", "TicketTimer"):
        assert set(schemas[model]["properties"]) >= zone_fields
        source = schemas[model]["properties"]["timezone_source"]["anyOf"][0]
        assert source["enum"] == ["calendar", "ticket", "default"]
    for example in schemas["LogRow"]["examples"]:  # the document leaves out null values
        assert set(example) >= zone_fields
        nulls = {"agent": None, "closed": None, "cancel_reason": None}
        row = LogRow.model_validate({**nulls, **example})
        assert row.due_local is not None and row.due_local.utcoffset() is not None
    # why a cancelled timer ended (SPEC 5 and 8), in the log, its CSV and the ticket's timers
    for model in ("LogRow", "TicketTimer"):
        reason = schemas[model]["properties"]["cancel_reason"]
        assert "cancel_condition" in reason["description"]
    cancelled = [e for e in schemas["LogRow"]["examples"] if e["state"] == "cancelled"]
    assert [(e["metric"], e["cancel_reason"]) for e in cancelled] == [("periodic_update", "closed")]
    metric = next(p for p in log["parameters"] if p["name"] == "metric")
    assert "periodic_update" in metric["description"]
    # ownership (SPEC 11): the log filters by team and by the team at the breach, sorts by team
    names = {p["name"] for p in log["parameters"]}
    assert {"team", "breach_team"} <= names
    sort = next(p for p in log["parameters"] if p["name"] == "sort")
    assert "team" in sort["description"]
    csv_example = log["responses"]["200"]["content"]["text/csv"]["example"]
    header, *rows = csv_example.splitlines()
    assert tuple(header.split(",")) == CSV_COLUMNS
    assert rows and all(len(row.split(",")) == len(CSV_COLUMNS) for row in rows)
    last = dict(zip(CSV_COLUMNS, rows[-1].split(","), strict=True))
    assert (last["state"], last["cancel_reason"]) == ("cancelled", "closed")
