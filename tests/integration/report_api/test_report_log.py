"""The SLA log: every sort key both ways through keyset pages, cursors while rows arrive, filters,
and the CSV export (every row, times in tz, cells neutralised)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from report_api.cursor import Cursor
from report_api.queries.log import SORT_KEYS, LogQuery, _page_sql, parse_sort
from report_api.testing import sla_event
from tests.integration.report_api.conftest import Stream

BASE = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
# Requesters that a spreadsheet would run as formulas, and None (sorts as '').
REQUESTERS = ["=HYPERLINK(1)", "+1", "-2", "@SUM(1)", "\tx", "ola@example.no", None]
DEPARTMENTS = ["support", "sales", None]
AGENTS = ["a-1", "a-2", None, "a-3"]
TEAMS = ["red", None, "blue"]
METRICS = ["first_answer", "next_answer", "resolution"]


def build(n: int, prefix: str) -> list[Any]:
    """`n` timers in every state; some share a sort key (the timer id breaks ties)."""
    events = []
    for i in range(n):
        ticket = f"{prefix}{i:03d}"
        started = BASE + timedelta(minutes=(i * 7) % 50)
        common = {
            "started": started,
            "department": DEPARTMENTS[i % 3],
            "agent": AGENTS[i % 4],
            "team": TEAMS[(i // 2) % 3],
            "requester": REQUESTERS[i % 7],
            "metric": METRICS[i % 3],
            "level": "gold" if i % 6 == 0 else "standard",
            "target_seconds": 600 * (1 + i % 4),
        }
        events.append(sla_event("sla.started", ticket, time=started, **common))
        kind = i % 5
        if kind == 1:
            events.append(
                sla_event("sla.fulfilled", ticket, time=started + timedelta(seconds=300), **common)
            )
        elif kind == 2:
            due = started + timedelta(seconds=common["target_seconds"])
            holder = {"breach_agent": "a-9", "breach_team": "green" if i % 3 else "red"}
            events.append(sla_event("sla.breached", ticket, time=due, **common, **holder))
            events.append(
                sla_event("sla.missed", ticket, time=due + timedelta(seconds=90), **common)
            )
        elif kind == 3:
            events.append(
                sla_event("sla.cancelled", ticket, time=started + timedelta(seconds=60), **common)
            )
        elif kind == 4:
            due = started + timedelta(seconds=common["target_seconds"])
            events.append(sla_event("sla.breached", ticket, time=due, **common))
    return events


N = 30


@pytest.fixture(scope="module", autouse=True)
async def fed(stream: Stream) -> None:
    await stream.feed(build(N, "L"))


async def get_log(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/reports/log", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def all_pages(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = await get_log(client, **params, **({"cursor": cursor} if cursor else {}))
        rows += page["rows"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows
    raise AssertionError("paging did not end")


FIELD = {
    "requester": lambda r: r["requester"] or "",
    "ticket": lambda r: r["ticket"],
    "department": lambda r: r["department"] or "",
    "agent": lambda r: r["agent"] or "",
    "team": lambda r: r["team"] or "",
    "level": lambda r: r["level"],
    "metric": lambda r: r["metric"],
    "started": lambda r: datetime.fromisoformat(r["sla_started"]),
    "due": lambda r: (
        datetime.fromisoformat(r["due_date"]) if r["due_date"] else datetime.max.replace(tzinfo=UTC)
    ),
    "closed": lambda r: (
        datetime.fromisoformat(r["closed"]) if r["closed"] else datetime.max.replace(tzinfo=UTC)
    ),
    "sla": lambda r: r["sla_seconds"],
}


@pytest.mark.parametrize("key", list(FIELD))
@pytest.mark.parametrize("descending", [False, True])
async def test_every_sort_key_both_ways_pages_match(
    client: httpx.AsyncClient, key: str, descending: bool
) -> None:
    sort = ("-" if descending else "") + key
    paged = await all_pages(client, sort=sort, limit=4, department=["support", "sales"])
    whole = (await get_log(client, sort=sort, limit=1000, department=["support", "sales"]))["rows"]
    assert [r["timer_id"] for r in paged] == [r["timer_id"] for r in whole]
    assert len(whole) == 20  # the timers with a department
    expected = sorted(whole, key=lambda r: (FIELD[key](r), r["timer_id"]), reverse=descending)
    if key == "sla":  # ordered by exact seconds left; the shown figure is rounded down
        assert [FIELD[key](r) for r in whole] == [FIELD[key](r) for r in expected]
    else:
        assert [r["timer_id"] for r in whole] == [r["timer_id"] for r in expected]


async def test_cursor_stays_correct_while_rows_arrive(
    stream: Stream, client: httpx.AsyncClient
) -> None:
    first = await get_log(
        client, sort="ticket", limit=5, ticket=[f"L{i:03d}" for i in range(N)] + ["L004a", "K000"]
    )
    seen = [r["ticket"] for r in first["rows"]]
    assert seen == [f"L{i:03d}" for i in range(5)]
    # One new ticket sorts before the cursor, one after it.
    started = BASE
    await stream.feed(
        [
            sla_event("sla.started", "K000", time=started, started=started),
            sla_event("sla.started", "L004a", time=started, started=started),
        ]
    )
    cursor = first["next_cursor"]
    rest: list[str] = []
    while cursor:
        page = await get_log(
            client,
            sort="ticket",
            limit=5,
            cursor=cursor,
            ticket=[f"L{i:03d}" for i in range(N)] + ["L004a", "K000"],
        )
        rest += [r["ticket"] for r in page["rows"]]
        cursor = page["next_cursor"]
    assert "K000" not in rest  # before the cursor: not shown, and nothing shifted
    assert rest[0] == "L004a"
    assert rest[1:] == [f"L{i:03d}" for i in range(5, N)]


async def test_filters_and_times_in_tz(client: httpx.AsyncClient) -> None:
    body = await get_log(
        client, state=["missed", "breached"], level="gold", tz="America/New_York", sort="ticket"
    )
    assert {r["state"] for r in body["rows"]} <= {"missed", "breached"}
    assert body["rows"] and all(r["level"] == "gold" for r in body["rows"])
    assert all(r["sla_started"].endswith("-04:00") for r in body["rows"])
    missed = [r for r in body["rows"] if r["state"] == "missed"]
    assert missed and all(r["sla_seconds"] == -90 for r in missed)
    window = await get_log(
        client,
        **{"from": "2026-05-04T08:00:00Z", "to": "2026-05-04T08:07:00Z"},
        ticket=["L000", "L001", "L010"],
    )
    assert [r["ticket"] for r in window["rows"]] == ["L000"]  # L001 at 08:07, L010 at 08:20
    requester = await get_log(client, requester="-2")
    assert {r["requester"] for r in requester["rows"]} == {"-2"}


async def test_csv_streams_every_row_neutralised(client: httpx.AsyncClient) -> None:
    async with client.stream(
        "GET",
        "/v1/reports/log",
        params={"format": "csv", "limit": 1, "sort": "ticket", "tz": "Europe/Oslo"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        text = (await response.aread()).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    json_rows = (await get_log(client, sort="ticket", limit=1000))["rows"]
    assert [r["ticket"] for r in rows] == [r["ticket"] for r in json_rows]  # limit ignored
    by_ticket = {r["ticket"]: r for r in rows}
    assert by_ticket["L000"]["requester"] == "'=HYPERLINK(1)"
    assert by_ticket["L001"]["requester"] == "'+1"
    assert by_ticket["L002"]["requester"] == "'-2"
    assert by_ticket["L003"]["requester"] == "'@SUM(1)"
    assert by_ticket["L004"]["requester"] == "'\tx"
    assert by_ticket["L005"]["requester"] == "ola@example.no"
    assert by_ticket["L006"]["requester"] == ""
    assert by_ticket["L002"]["sla_seconds"] == "-90"  # numbers are not neutralised
    assert by_ticket["L000"]["sla_started"] == "2026-05-04T10:00:00+02:00"
    for row in json_rows:
        if row["state"] in {"fulfilled", "missed", "cancelled"}:
            assert int(by_ticket[row["ticket"]]["sla_seconds"]) == row["sla_seconds"]


async def test_team_and_breach_team_filters(client: httpx.AsyncClient) -> None:
    red = await all_pages(client, team="red", sort="-team", limit=3)
    expected = {f"L{i:03d}" for i in range(N) if TEAMS[(i // 2) % 3] == "red"}
    assert {r["ticket"] for r in red} == expected
    both = await get_log(client, team=["red", "blue"], limit=1000)
    assert {r["team"] for r in both["rows"]} == {"red", "blue"}
    # The missed timers (i % 5 == 2) were due in green's hands unless i % 3 == 0.
    green = await get_log(client, breach_team="green", sort="ticket")
    assert [r["ticket"] for r in green["rows"]] == [
        f"L{i:03d}" for i in range(N) if i % 5 == 2 and i % 3
    ]
    assert all(r["breach_agent"] == "a-9" for r in green["rows"])


async def test_an_unknown_sort_key_is_a_400_naming_sort(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/reports/log", params={"sort": "-teams"})
    assert response.status_code == 400
    assert "sort" in response.text and "team" in response.text


@pytest.mark.parametrize("key", [k for k in SORT_KEYS if k != "sla"])
async def test_every_sort_key_pages_from_an_index(stream: Stream, key: str) -> None:
    # With sequential scans and sorts priced out, a key without its index still plans a Sort.
    query = LogQuery(
        start=None,
        end=None,
        filters={},
        sort=parse_sort(f"-{key}"),
        as_of=BASE,
    )
    after = Cursor(f"-{key}", BASE if SORT_KEYS[key].kind == "time" else "m", "L010", BASE)
    sql, values = _page_sql(query, after, 51)
    conn = await asyncpg.connect(stream.database_url)
    try:
        await conn.execute("SET enable_seqscan = off; SET enable_sort = off")
        plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *values))
    finally:
        await conn.close()
    assert "Sort" not in plan and "Index" in plan, plan
