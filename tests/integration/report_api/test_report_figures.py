"""Compliance figures of a small known stream, worked out by hand, fed through the broker.

The stream (UTC, 24/7, first_answer target 1 h unless said):

    T1  support agent-1  03-02 10:00  fulfilled at 10:30             1800 s
    T2  support agent-2  03-02 11:00  breached 12:00, missed 13:00   7200 s
    T3  sales   agent-1  03-02 12:00  breached 13:00, still running  (missed, no figure)
    T4  sales   agent-3  03-02 14:00  running                        (not counted)
    T5  support agent-1  03-02 09:00  resolution, cancelled          (not counted)
    T6  support agent-1  03-02 15:00  missed at 16:30 (5400 s), then a late answer proves it
                                      fulfilled at 15:50: corrects_breach   3000 s
    T7  support agent-1  03-02 10:00  fulfilled 10:10, then the ticket is deleted (left out)
    T8  sales   agent-2  03-03 08:00  next_answer, fulfilled 08:20  1200 s
    and T1's fulfilled event a second time (same id): changes nothing.
"""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from report_api.testing import sla_event
from tests.integration.report_api.conftest import Stream

D = "2026-03-02T"


def timer(ticket: str, start: str, dept: str, agent: str, metric: str = "first_answer") -> dict:
    return {
        "started": start,
        "department": dept,
        "agent": agent,
        "metric": metric,
        "requester": f"{ticket.lower()}@example.com",
    }


T1 = timer("T1", D + "10:00:00Z", "support", "agent-1")
T2 = timer("T2", D + "11:00:00Z", "support", "agent-2")
T3 = timer("T3", D + "12:00:00Z", "sales", "agent-1")
T4 = timer("T4", D + "14:00:00Z", "sales", "agent-3")
T5 = timer("T5", D + "09:00:00Z", "support", "agent-1", "resolution")
T6 = timer("T6", D + "15:00:00Z", "support", "agent-1")
T7 = timer("T7", D + "10:00:00Z", "support", "agent-1")
T8 = timer("T8", "2026-03-03T08:00:00Z", "sales", "agent-2", "next_answer")


def known_stream() -> list:
    t1_done = sla_event("sla.fulfilled", "T1", time=D + "10:30:00Z", **T1)
    return [
        sla_event("sla.started", "T1", time=D + "10:00:00Z", **T1),
        t1_done,
        sla_event("sla.started", "T2", time=D + "11:00:00Z", **T2),
        sla_event("sla.breached", "T2", time=D + "12:00:00Z", **T2),
        sla_event("sla.missed", "T2", time=D + "13:00:00Z", **T2),
        sla_event("sla.started", "T3", time=D + "12:00:00Z", **T3),
        sla_event("sla.breached", "T3", time=D + "13:00:00Z", **T3),
        sla_event("sla.started", "T4", time=D + "14:00:00Z", **T4),
        sla_event("sla.started", "T5", time=D + "09:00:00Z", **T5),
        sla_event("sla.cancelled", "T5", time=D + "09:30:00Z", **T5),
        sla_event("sla.started", "T6", time=D + "15:00:00Z", **T6),
        sla_event("sla.breached", "T6", time=D + "16:00:00Z", **T6),
        sla_event("sla.missed", "T6", time=D + "16:30:00Z", **T6),
        sla_event(
            "sla.fulfilled",
            "T6",
            time=D + "15:50:00Z",
            stopped=D + "15:50:00Z",
            corrects_breach=True,
            **T6,
        ),
        sla_event("sla.started", "T7", time=D + "10:00:00Z", **T7),
        sla_event("sla.fulfilled", "T7", time=D + "10:10:00Z", **T7),
        sla_event("sla.started", "T8", time="2026-03-03T08:00:00Z", **T8),
        sla_event("sla.fulfilled", "T8", time="2026-03-03T08:20:00Z", **T8),
        t1_done,  # a re-emission: the same id again
    ]


@pytest.fixture(scope="module", autouse=True)
async def fed(stream: Stream) -> None:
    events = known_stream()
    # The deletion comes in a later batch, so that it removes stored rollup figures.
    await stream.feed(events)
    await stream.feed(
        [sla_event("sla.cancelled", "T7", time=D + "18:00:00Z", ticket_deleted=True, **T7)]
    )


async def report(client: httpx.AsyncClient, **params: object) -> dict:
    response = await client.get(
        "/v1/reports/compliance", params={"from": "2026-03-02", "to": "2026-03-04", **params}
    )
    assert response.status_code == 200, response.text
    return response.json()


def figures(row: dict) -> tuple:
    return (
        row["fulfilled"],
        row["fulfilled_avg_seconds"],
        row["fulfilled_max_seconds"],
        row["fulfilled_min_seconds"],
        row["missed"],
        row["missed_avg_seconds"],
        row["missed_max_seconds"],
        row["missed_min_seconds"],
        row["compliance_ratio"],
    )


async def test_by_department(client: httpx.AsyncClient) -> None:
    body = await report(client, group_by="department")
    rows = {r["department"]: figures(r) for r in body["rows"]}
    assert rows == {
        # T1 and T6 (corrected) fulfilled; T2 missed.
        "support": (2, 2400.0, 3000.0, 1800.0, 1, 7200.0, 7200.0, 7200.0, 0.6667),
        # T8 fulfilled; T3 breached and running: missed, without a time figure.
        "sales": (1, 1200.0, 1200.0, 1200.0, 1, None, None, None, 0.5),
    }
    assert figures(body["totals"]) == (3, 2000.0, 3000.0, 1200.0, 2, 7200.0, 7200.0, 7200.0, 0.6)
    assert body["group_by"] == ["department"]


async def test_by_date_and_metric(client: httpx.AsyncClient) -> None:
    body = await report(client, group_by="date,metric")
    rows = [(r["date"], r["metric"], r["fulfilled"], r["missed"]) for r in body["rows"]]
    assert rows == [
        ("2026-03-02", "first_answer", 2, 2),
        ("2026-03-03", "next_answer", 1, 0),
    ]


async def test_by_agent_level_week_month(client: httpx.AsyncClient) -> None:
    body = await report(client, group_by="week,month,level,agent")
    rows = [
        (r["week"], r["month"], r["level"], r["agent"], r["fulfilled"], r["missed"])
        for r in body["rows"]
    ]
    # 2026-03-02 is a Monday: both days are in its ISO week.
    assert rows == [
        ("2026-03-02", "2026-03", "standard", "agent-1", 2, 1),
        ("2026-03-02", "2026-03", "standard", "agent-2", 1, 1),
    ]


async def test_filters_combine(client: httpx.AsyncClient) -> None:
    body = await report(client, group_by="agent", department="support", agent=["agent-1"])
    assert [(r["agent"], r["fulfilled"], r["missed"]) for r in body["rows"]] == [("agent-1", 2, 0)]
    body = await report(client, metric=["next_answer", "first_answer"], department="sales")
    assert (body["totals"]["fulfilled"], body["totals"]["missed"]) == (1, 1)
    body = await report(client, level="gold")
    assert body["rows"] == []
    assert body["totals"]["compliance_ratio"] is None


async def test_unaligned_range_reads_raw_timers(client: httpx.AsyncClient) -> None:
    # From 10:15:30: T1 (10:00) is out; T2, T3 and T6 are in.
    body = await report(client, **{"from": D + "10:15:30Z", "to": D + "15:00:01Z"})
    assert (body["totals"]["fulfilled"], body["totals"]["missed"]) == (1, 2)
    body = await report(client, **{"from": D + "10:15:30Z", "to": D + "15:00:00Z"})
    assert (body["totals"]["fulfilled"], body["totals"]["missed"]) == (0, 2)


async def test_compliance_csv(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/v1/reports/compliance",
        params={"from": "2026-03-02", "to": "2026-03-04", "group_by": "department"},
        headers={"Accept": "text/csv"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:3] == ["department", "fulfilled", "fulfilled_avg_seconds"]
    assert [r[0] for r in rows[1:]] == ["sales", "support", "total"]
    assert rows[-1][1] == "3" and rows[-1][-1] == "0.6"


async def test_ticket_timers_now(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/tickets/T6/sla", params={"tz": "Europe/Oslo"})
    assert response.status_code == 200
    (only,) = response.json()["timers"]
    assert only["state"] == "fulfilled" and only["corrected"] and only["breached"]
    assert only["elapsed_seconds"] == 3000
    assert only["stopped_at"] == "2026-03-02T16:50:00+01:00"
    deleted = await client.get("/v1/tickets/T7/sla")
    assert deleted.status_code == 404
    assert deleted.headers["content-type"] == "application/problem+json"


async def test_replay_changes_nothing(stream: Stream, client: httpx.AsyncClient) -> None:
    before = await report(client, group_by="date,department,agent,metric")
    await stream.feed(known_stream())  # every event again, same ids
    assert await report(client, group_by="date,department,agent,metric") == before
