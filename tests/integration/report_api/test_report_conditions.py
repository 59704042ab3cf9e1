"""Conditions in the reports (SPEC sections 5, 6 and 8): periodic-update timers in the compliance
report and the SLA log, and the reason of every cancelled timer in the log (JSON and CSV) and the
ticket view, fed through the broker and worked out by hand.

The stream (UTC, 24/7, department `cond`):

    P  first_answer:1     05-04 08:00, target 1h, fulfilled 08:30            1800 s
    P  periodic_update:1  05-04 08:30, target 24h, fulfilled 05-05 08:00    84600 s
    P  periodic_update:2  05-05 08:00, target 24h, breached 05-06 08:00,
                          missed 05-06 10:00                                93600 s
    P  periodic_update:3  05-06 10:00, target 24h, cancelled 12:00: closed  (not counted)
    R  first_answer:1     05-04 09:00, target 1h, cancelled 09:20: reset    (not counted)
    R  first_answer:2     05-04 09:20, target 1h, fulfilled 09:50            1800 s
    R  resolution:1       05-04 09:00, target 8h, cancelled 09:40: cancel_condition
    L  first_answer:1     05-04 11:00, target 1h, cancelled 11:15: level_change
"""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from report_api.testing import sla_event
from tests.integration.report_api.conftest import Stream

DAY = 86400
RANGE = {"from": "2026-05-04", "to": "2026-05-07"}


def timer(start: str, metric: str = "first_answer", cycle: int = 1, target: float = 3600) -> dict:
    return {
        "started": start,
        "metric": metric,
        "cycle": cycle,
        "target_seconds": target,
        "department": "cond",
    }


P_ANSWER = timer("2026-05-04T08:00:00Z")
P1 = timer("2026-05-04T08:30:00Z", "periodic_update", 1, DAY)
P2 = timer("2026-05-05T08:00:00Z", "periodic_update", 2, DAY)
P3 = timer("2026-05-06T10:00:00Z", "periodic_update", 3, DAY)
R1 = timer("2026-05-04T09:00:00Z")
R2 = timer("2026-05-04T09:20:00Z", cycle=2)
R_RES = timer("2026-05-04T09:00:00Z", "resolution", target=8 * 3600)
L1 = timer("2026-05-04T11:00:00Z")


@pytest.fixture(scope="module", autouse=True)
async def fed(stream: Stream) -> None:
    await stream.feed(
        [
            sla_event("sla.started", "P", time="2026-05-04T08:00:00Z", **P_ANSWER),
            sla_event("sla.fulfilled", "P", time="2026-05-04T08:30:00Z", **P_ANSWER),
            sla_event("sla.started", "P", time="2026-05-04T08:30:00Z", **P1),
            sla_event("sla.fulfilled", "P", time="2026-05-05T08:00:00Z", **P1),
            sla_event("sla.started", "P", time="2026-05-05T08:00:00Z", **P2),
            sla_event("sla.breached", "P", time="2026-05-06T08:00:00Z", **P2),
            sla_event("sla.missed", "P", time="2026-05-06T10:00:00Z", **P2),
            sla_event("sla.started", "P", time="2026-05-06T10:00:00Z", **P3),
            sla_event("sla.cancelled", "P", time="2026-05-06T12:00:00Z", reason="closed", **P3),
            sla_event("sla.started", "R", time="2026-05-04T09:00:00Z", **R1),
            sla_event("sla.started", "R", time="2026-05-04T09:00:00Z", **R_RES),
            sla_event("sla.cancelled", "R", time="2026-05-04T09:20:00Z", reason="reset", **R1),
            sla_event("sla.started", "R", time="2026-05-04T09:20:00Z", **R2),
            sla_event(
                "sla.cancelled",
                "R",
                time="2026-05-04T09:40:00Z",
                reason="cancel_condition",
                **R_RES,
            ),
            sla_event("sla.fulfilled", "R", time="2026-05-04T09:50:00Z", **R2),
            sla_event("sla.started", "L", time="2026-05-04T11:00:00Z", **L1),
            sla_event(
                "sla.cancelled", "L", time="2026-05-04T11:15:00Z", reason="level_change", **L1
            ),
        ]
    )


async def get(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_compliance_counts_periodic_updates_and_leaves_the_cancelled_out(
    client: httpx.AsyncClient,
) -> None:
    body = await get(
        client, "/v1/reports/compliance", **RANGE, group_by="metric", metric="periodic_update"
    )
    (row,) = body["rows"]
    assert row["metric"] == "periodic_update"
    # cycle 1 fulfilled in 84600 s, cycle 2 missed at 93600 s, cycle 3 cancelled: left out
    assert (row["fulfilled"], row["fulfilled_avg_seconds"]) == (1, 84600)
    assert (row["missed"], row["missed_avg_seconds"]) == (1, 93600)
    assert row["compliance_ratio"] == 0.5
    every = await get(client, "/v1/reports/compliance", **RANGE, group_by="metric")
    by_metric = {r["metric"]: (r["fulfilled"], r["missed"]) for r in every["rows"]}
    # first_answer: P and R's second cycle; R's first cycle, its resolution and L's are cancelled
    assert by_metric == {"first_answer": (2, 0), "periodic_update": (1, 1)}


async def test_the_log_shows_periodic_cycles_and_why_each_cancelled_timer_ended(
    client: httpx.AsyncClient,
) -> None:
    body = await get(client, "/v1/reports/log", **RANGE, metric="periodic_update", sort="started")
    assert [
        (r["timer_id"], r["state"], r["sla_seconds"], r["cancel_reason"]) for r in body["rows"]
    ] == [
        ("P:periodic_update:1", "fulfilled", DAY - 84600, None),
        ("P:periodic_update:2", "missed", DAY - 93600, None),
        ("P:periodic_update:3", "cancelled", DAY - 7200, "closed"),
    ]
    cancelled = await get(client, "/v1/reports/log", **RANGE, state="cancelled", sort="started")
    assert [(r["timer_id"], r["cancel_reason"]) for r in cancelled["rows"]] == [
        ("R:first_answer:1", "reset"),
        ("R:resolution:1", "cancel_condition"),
        ("L:first_answer:1", "level_change"),
        ("P:periodic_update:3", "closed"),
    ]
    # the state filter with several states, and with a metric
    ended = await get(
        client, "/v1/reports/log", **RANGE, state=["cancelled", "missed"], metric="periodic_update"
    )
    assert sorted(r["state"] for r in ended["rows"]) == ["cancelled", "missed"]
    fulfilled = await get(client, "/v1/reports/log", **RANGE, state="fulfilled")
    assert all(r["cancel_reason"] is None for r in fulfilled["rows"])
    assert len(fulfilled["rows"]) == 3


async def test_the_log_csv_and_the_ticket_view_name_the_cancel_reason(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(
        "/v1/reports/log",
        params={**RANGE, "state": "cancelled", "sort": "started", "format": "csv"},
    )
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["ticket"], r["metric"], r["cancel_reason"]) for r in rows] == [
        ("R", "first_answer", "reset"),
        ("R", "resolution", "cancel_condition"),
        ("L", "first_answer", "level_change"),
        ("P", "periodic_update", "closed"),
    ]
    ticket = await get(client, "/v1/tickets/R/sla")
    assert [(t["timer_id"], t["state"], t["cancel_reason"]) for t in ticket["timers"]] == [
        ("R:first_answer:1", "cancelled", "reset"),
        ("R:resolution:1", "cancelled", "cancel_condition"),
        ("R:first_answer:2", "fulfilled", None),
    ]
