"""The demo stream's tickets, played out with no waiting and no broker: each starts in its
department's first team, and some support tickets are handed over to the second line before
their answer, so the demo's reports by team have both teams and hand-overs to show."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import orjson
import pytest

from sla_devtools import demo


class Recorder:
    """Stands in for the producer: keeps what the demo sends."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> None:
        self.events.append(orjson.loads(value))


async def no_wait(_: float) -> None:
    return None


def test_tickets_start_in_a_first_team_and_some_move_to_the_second_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(demo.asyncio, "sleep", no_wait)
    recorder = Recorder()
    stream = demo.DemoStream(recorder, "tickets", seed=7)  # type: ignore[arg-type]

    async def lives() -> None:
        await asyncio.gather(*(stream.ticket_life(n) for n in range(200)))

    asyncio.run(asyncio.wait_for(lives(), 10))
    teams: dict[str, list[str]] = defaultdict(list)
    for event in recorder.events:
        team = event["data"].get("ticket", {}).get("team")
        if team is not None:
            teams[event["subject"]].append(team)
    created = [e for e in recorder.events if e["type"] == "ticket.created"]
    assert len(created) == 200
    for event in created:
        department = event["data"]["ticket"]["department"]
        assert event["data"]["ticket"]["team"] == demo.TEAMS[department][0]
    moved = [t for t, seen in teams.items() if seen == ["support-l1", "support-l2"]]
    support = [e for e in created if e["data"]["ticket"]["department"] == "support"]
    assert 0.2 * len(support) < len(moved) < 0.5 * len(support)
    for ticket in moved:  # handed over before the (first) answer, to a second-line agent
        kinds = [(e["type"], e["data"].get("ticket", {})) for e in recorder.events
                 if e["subject"] == ticket]  # fmt: skip
        handover = next(i for i, (_, t) in enumerate(kinds) if t.get("team") == "support-l2")
        answer = next(i for i, (k, d) in enumerate(kinds) if k == "ticket.answered" and d)
        assert handover < answer
        assert kinds[handover][1]["agent"] in demo.SECOND_LINE["support-l2"]
