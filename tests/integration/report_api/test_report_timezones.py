"""Compliance groups in local calendars: around midnight, across both DST changes, and in a zone
whose midnight (+05:45) splits a UTC hour of the rollups."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from report_api.testing import at, sla_event
from tests.integration.report_api.conftest import Stream

# (ticket, started (UTC), department): each timer fulfilled after 60 s.
TIMERS = [
    ("A", "2026-03-28T22:59:00Z", "osl"),  # Oslo 03-28 23:59 CET
    ("B", "2026-03-28T23:00:00Z", "osl"),  # Oslo 03-29 00:00 CET
    ("E", "2026-03-29T00:30:00Z", "osl"),  # Oslo 03-29 01:30 CET, before the spring change
    ("F", "2026-03-29T01:30:00Z", "osl"),  # Oslo 03-29 03:30 CEST, after it (a 23-hour day)
    ("C", "2026-03-29T21:59:00Z", "osl"),  # Oslo 03-29 23:59 CEST
    ("D", "2026-03-29T22:00:00Z", "osl"),  # Oslo 03-30 00:00 CEST
    ("M", "2026-03-31T22:30:00Z", "osl-m"),  # Oslo 04-01 00:30: April there, March in UTC
    ("G", "2026-10-24T22:00:00Z", "osl-f"),  # Oslo 10-25 00:00 CEST (a 25-hour day)
    ("H", "2026-10-25T22:59:00Z", "osl-f"),  # Oslo 10-25 23:59 CET
    ("I", "2026-10-25T23:00:00Z", "osl-f"),  # Oslo 10-26 00:00 CET, a Monday
    ("K1", "2026-03-28T18:14:00Z", "ktm"),  # Kathmandu 03-28 23:59 (+05:45)
    ("K2", "2026-03-28T18:15:00Z", "ktm"),  # Kathmandu 03-29 00:00
    ("K3", "2026-03-28T18:29:00Z", "ktm"),  # Kathmandu 03-29 00:14
]


@pytest.fixture(scope="module", autouse=True)
async def fed(stream: Stream) -> None:
    events = []
    for ticket, started, department in TIMERS:
        common = {"started": started, "department": department, "target_seconds": 3600}
        stop = at(started) + timedelta(seconds=60)
        events.append(sla_event("sla.started", ticket, time=started, **common))
        events.append(
            sla_event("sla.fulfilled", ticket, time=stop, elapsed=60, remaining=3540, **common)
        )
    await stream.feed(events)


async def groups(client: httpx.AsyncClient, **params: object) -> dict[str, int]:
    response = await client.get("/v1/reports/compliance", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    key = body["group_by"][0]
    return {row[key]: row["fulfilled"] for row in body["rows"]}


async def test_oslo_days_around_midnight_and_spring_dst(client: httpx.AsyncClient) -> None:
    common = {"from": "2026-03-28", "to": "2026-03-31", "department": "osl"}
    oslo = await groups(client, tz="Europe/Oslo", **common)
    assert oslo == {"2026-03-28": 1, "2026-03-29": 4, "2026-03-30": 1}
    utc = await groups(client, **{**common, "from": "2026-03-28", "to": "2026-03-31"})
    assert utc == {"2026-03-28": 2, "2026-03-29": 4}


async def test_dates_in_from_and_to_are_local_midnights(client: httpx.AsyncClient) -> None:
    oslo = await groups(
        client, tz="Europe/Oslo", department="osl", **{"from": "2026-03-29", "to": "2026-03-30"}
    )
    assert oslo == {"2026-03-29": 4}
    # A local date-time without offset is read in tz too; one with an offset as given.
    local = await groups(
        client,
        tz="Europe/Oslo",
        department="osl",
        **{"from": "2026-03-29T00:00:00", "to": "2026-03-29T23:59:00+02:00"},
    )
    assert local == {"2026-03-29": 3}  # C started at 23:59 exactly: excluded


async def test_autumn_dst_week_and_month(client: httpx.AsyncClient) -> None:
    common = {"from": "2026-10-01", "to": "2026-11-01", "department": "osl-f"}
    assert await groups(client, tz="Europe/Oslo", **common) == {"2026-10-25": 2, "2026-10-26": 1}
    weeks = await groups(client, tz="Europe/Oslo", group_by="week", **common)
    assert weeks == {"2026-10-19": 2, "2026-10-26": 1}
    months = {"from": "2026-03-01", "to": "2026-05-01", "department": "osl-m", "group_by": "month"}
    assert await groups(client, tz="Europe/Oslo", **months) == {"2026-04": 1}
    assert await groups(client, tz="UTC", **months) == {"2026-03": 1}


async def test_kathmandu_midnight_splits_a_utc_hour(client: httpx.AsyncClient) -> None:
    common = {"from": "2026-03-28", "to": "2026-03-30", "department": "ktm"}
    assert await groups(client, tz="Asia/Kathmandu", **common) == {
        "2026-03-28": 1,
        "2026-03-29": 2,
    }
    assert await groups(client, tz="UTC", **common) == {"2026-03-28": 3}
