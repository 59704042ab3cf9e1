"""Ownership (SPEC section 11), worked by hand: the engine's own output for two tickets, through
the broker and the projection, to the compliance report, the time-in-hands report and the ticket
view.

Office hours Monday to Friday 09:00-17:00 Oslo, first answer within 4 business hours.
- O1: created for team A (agent ann) Monday 09:00, moved to team B (bob) at 12:00, answered at
  14:00. Due 13:00, in B's hands: missed for B under `at_breach`, and under `last`.
- O2: created for A Monday 09:00, breached at 13:00 in A's hands, moved to B at 14:00, answered
  at 15:00: missed for A under `at_breach`, for B under `last`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sla_core.events import SlaEvent, TicketEvent
from sla_core.instants import to_us
from sla_core.partition.engine import PartitionEngine
from sla_core.policy import parse_policy
from tests.integration.report_api.conftest import Stream

POLICY = parse_policy(
    """
calendars:
  office:
    timezone: Europe/Oslo
    hours: {mon-fri: ["09:00-17:00"]}
levels:
  standard:
    calendar: office
    targets: {first_answer: 4h}
default_level: standard
"""
)
MON = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)  # Monday 09:00 in Oslo
WALL = datetime(2031, 1, 1, tzinfo=UTC)
H = timedelta(hours=1)
DAY = {"from": "2026-11-16", "to": "2026-11-17", "metric": "first_answer"}


def engine_output() -> list[SlaEvent]:
    engine = PartitionEngine(0, POLICY)
    out: list[SlaEvent] = []
    script = [
        ("O1", "ticket.created", MON, {"agent": "ann", "team": "A", "department": "own"}),
        ("O2", "ticket.created", MON, {"agent": "ann", "team": "A", "department": "own"}),
        ("O1", "ticket.updated", MON + 3 * H, {"agent": "bob", "team": "B"}),
        ("O1", "ticket.answered", MON + 5 * H, {}),
        ("O2", "ticket.updated", MON + 5 * H, {"agent": "bob", "team": "B"}),
        ("O2", "ticket.answered", MON + 6 * H, {}),
    ]
    for n, (ticket, kind, when, attrs) in enumerate(script):
        out.extend(engine.advance(to_us(when)))
        event = TicketEvent(f"o{n}", "t", kind, when, ticket, attrs, channel="email")
        out.extend(engine.handle(event, WALL).outputs)
    return out


@pytest.fixture(scope="module", autouse=True)
async def fed(stream: Stream) -> None:
    await stream.feed(engine_output())


async def missed_by(client: httpx.AsyncClient, key: str, **params: Any) -> dict[str, int]:
    response = await client.get("/v1/reports/compliance", params={**DAY, "group_by": key, **params})
    assert response.status_code == 200, response.text
    return {row[key]: row["missed"] for row in response.json()["rows"]}


async def test_at_breach_counts_each_miss_for_the_team_that_held_the_ticket_at_due(
    client: httpx.AsyncClient,
) -> None:
    assert await missed_by(client, "team", attribute="at_breach") == {"A": 1, "B": 1}
    assert await missed_by(client, "agent", attribute="at_breach") == {"ann": 1, "bob": 1}
    assert await missed_by(client, "team") == {"B": 2}
    assert await missed_by(client, "team", attribute="last") == {"B": 2}
    assert await missed_by(client, "department", team="A", attribute="at_breach") == {"own": 1}
    assert await missed_by(client, "department", team="A") == {}


async def test_time_in_hands_per_team_and_agent(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/reports/ownership", params={**DAY, "group_by": "team"})
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    # A: 3 h of O1 and 5 h of O2; B: 2 h of O1 and 1 h of O2
    assert rows == [
        {"team": "A", "held_seconds": 8 * 3600.0, "timers": 2, "breaches": 1},
        {"team": "B", "held_seconds": 3 * 3600.0, "timers": 2, "breaches": 1},
    ]
    csv = await client.get(
        "/v1/reports/ownership", params={**DAY, "group_by": "agent", "format": "csv"}
    )
    assert csv.text.splitlines() == [
        "agent,held_seconds,timers,breaches",
        "ann,28800.0,2,1",
        "bob,10800.0,2,1",
    ]


async def test_the_ticket_view_shows_the_segments(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/tickets/O1/sla")
    assert response.status_code == 200, response.text
    (timer,) = response.json()["timers"]
    assert (timer["team"], timer["breach_agent"], timer["breach_team"]) == ("B", "bob", "B")
    assert [(s["agent"], s["team"], s["business_seconds"]) for s in timer["segments"]] == [
        ("ann", "A", 3 * 3600.0),
        ("bob", "B", 2 * 3600.0),
    ]
    assert timer["segments"][1]["started_at"] == "2026-11-16T11:00:00+00:00"


async def test_the_log_shows_the_segments_and_the_holder_at_breach(
    client: httpx.AsyncClient,
) -> None:
    params = {"from": "2026-11-16", "to": "2026-11-17", "ticket": "O2"}
    response = await client.get("/v1/reports/log", params=params)
    assert response.status_code == 200, response.text
    (row,) = response.json()["rows"]
    assert (row["team"], row["breach_team"]) == ("B", "A")
    assert [(s["team"], s["business_seconds"]) for s in row["segments"]] == [
        ("A", 5 * 3600.0),
        ("B", 3600.0),
    ]
    csv = await client.get("/v1/reports/log", params={**params, "format": "csv"})
    header, line = csv.text.splitlines()
    cells = dict(zip(header.split(","), line.split(","), strict=True))
    assert (cells["team"], cells["breach_team"]) == ("B", "A")
    assert cells["segments"] == "ann/A=18000;bob/B=3600"
