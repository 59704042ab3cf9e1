"""Ownership (SPEC section 11) end to end, as the issue works it by hand: ticket events on Kafka,
`sla-engine run`, `report-api serve`, the reports. Office hours Monday to Friday 09:00-17:00
Oslo, first answer within 4 business hours, a Monday in the past (replayed as history).

- One ticket is created for team A, moved to team B after 3 business hours and answered 2 hours
  later: missed, due at 13:00 in B's hands, so B's under `at_breach` and under `last`.
- A second breaches at 13:00 in A's hands, moves to B at 14:00 and is answered at 15:00: A's
  under `at_breach`, B's under `last`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sla_devtools.infra import Infra
from tests.e2e.conftest import TOKEN, Services, poll, wait_ready
from tests.support.kafka import TicketProducer

OWNERSHIP_POLICY = """
calendars:
  office:
    timezone: Europe/Oslo
    hours: {mon-fri: ["09:00-17:00"]}
levels:
  office:
    calendar: office
    targets: {first_answer: 4h}
default_level: office
"""
MON = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)  # Monday 09:00 in Oslo
H = timedelta(hours=1)


@pytest.mark.parametrize("services", [OWNERSHIP_POLICY], indirect=True)
async def test_a_missed_sla_goes_to_the_team_that_held_the_ticket_at_its_due(
    infra: Infra,
    unique: str,
    services: Services,
) -> None:
    env = services.env
    await services.up()
    moved, breached = f"moved-{unique}", f"breached-{unique}"
    department = f"own-{unique}"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as c:
        await wait_ready(c, f"{services.engine}/readyz", services)
        await wait_ready(c, f"{services.api}/readyz", services)
        async with TicketProducer(infra.bootstrap_servers, env["SLA_TICKET_TOPIC"]) as producer:
            a = {"agent": "ann", "team": "A", "department": department}
            b = {"agent": "bob", "team": "B"}
            await producer.send("ticket.created", MON, moved, ticket=a)
            await producer.send("ticket.created", MON, breached, ticket=a)
            await producer.send("ticket.updated", MON + 3 * H, moved, ticket=b)
            await producer.send("ticket.answered", MON + 5 * H, moved, channel="email")
            await producer.send("ticket.updated", MON + 5 * H, breached, ticket=b)
            await producer.send("ticket.answered", MON + 6 * H, breached, channel="email")

        api = services.api
        day = {"from": "2026-11-16", "to": "2026-11-17", "department": department}

        def missed(body: dict[str, object]) -> dict[str, int]:
            rows = body["rows"]
            assert isinstance(rows, list)
            return {r["team"]: r["missed"] for r in rows}

        at_breach = {**day, "group_by": "team", "attribute": "at_breach"}
        body = await poll(
            c,
            f"{api}/v1/reports/compliance",
            at_breach,
            lambda b: missed(b) == {"A": 1, "B": 1},
        )
        assert body["attribute"] == "at_breach"
        last = await c.get(f"{api}/v1/reports/compliance", params={**day, "group_by": "team"})
        assert missed(last.json()) == {"B": 2}

        view = (await c.get(f"{api}/v1/tickets/{moved}/sla")).json()
        (timer,) = view["timers"]
        assert (timer["state"], timer["breach_team"], timer["team"]) == ("missed", "B", "B")
        assert [(s["team"], s["business_seconds"]) for s in timer["segments"]] == [
            ("A", 3 * 3600.0),
            ("B", 2 * 3600.0),
        ]
        hands = await c.get(f"{api}/v1/reports/ownership", params={**day, "group_by": "team"})
        assert hands.json()["rows"] == [
            {"team": "A", "held_seconds": 8 * 3600.0, "timers": 2, "breaches": 1},
            {"team": "B", "held_seconds": 3 * 3600.0, "timers": 2, "breaches": 1},
        ]
