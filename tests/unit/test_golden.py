"""Golden streams: the engine's exact output bytes for fixed random ticket streams.

Each stream mixes every ticket event type, office-hours and 24/7 levels, escalation, pauses,
warnings, breaches, late and duplicate events, snapshots with restores at random cuts and a
policy reload. What the engine emits (the encoded SLA events, in order) and what it snapshots
are hashed apart; `golden.json` holds the digests. A refactor must leave them byte-identical. A
change that is meant to change either regenerates the file (`SLA_GOLDEN_WRITE=1 pytest
tests/unit/test_golden.py`) and says why in its commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sla_core.codec import encode_sla_event
from sla_core.events import SLA_TYPES, TicketEvent
from sla_core.partition.engine import PartitionEngine, to_us
from sla_core.policy import parse_policy
from tests.support.snapshots import all_rows, round_trip

GOLDEN = Path(__file__).with_name("golden.json")
SEEDS = range(12)
POLICY_TEXT = """
calendars:
  office:
    timezone: Europe/Oslo
    hours: {mon-fri: ["09:00-17:00"], sat: ["10:00-14:00"]}
    holidays: {country: "NO", dates: ["2026-03-31"]}
levels:
  standard:
    targets: {first_answer: 1h, next_answer: 2h, chat_answer: 2m, call_answer: 30s, resolution: 8h}
    warnings: ["75%", "10m"]
    pause_when_status: [pending]
  gold:
    targets: {first_answer: 20m, next_answer: 40m, resolution: 4h}
    warnings: ["50%"]
  office:
    calendar: office
    targets: {first_answer: 4h, next_answer: 4h, resolution: 16h}
    warnings: ["30m"]
    pause_when_status: [pending, on_hold]
default_level: standard
rules:
  - name: office department
    when: {field: department, op: eq, value: office}
    then: {set_level: office, stop: true}
  - name: urgent
    when: {any: [{field: priority, op: eq, value: urgent}, {field: tags, op: contains, value: vip}]}
    then: {set_level: gold}
"""
# the same policy with other targets: a reload part-way through a stream
RELOADED_TEXT = POLICY_TEXT.replace("first_answer: 20m", "first_answer: 25m")
T0 = datetime(2026, 3, 27, 8, 0, tzinfo=UTC)  # a Friday before Europe's DST change
WALL = datetime(2031, 1, 1, tzinfo=UTC)
EMITTED = datetime(2031, 1, 2, tzinfo=UTC)


def stream(seed: int) -> list[TicketEvent]:
    """About 600 events of 60 tickets, in event-time order with a few late and repeated ones."""
    rng = random.Random(seed)
    events: list[TicketEvent] = []
    for i in range(60):
        tid = f"G{seed}-{i}"
        t = T0 + timedelta(seconds=rng.randrange(4 * 86400))
        ticket: dict[str, Any] = {
            "source": rng.choice(["email", "web", "chat", "call"]),
            "department": rng.choice(["support", "office", "sales"]),
            "priority": rng.choice(["low", "normal", "high"]),
            "requester": f"r{rng.randint(1, 9)}",
            "agent": None,
            "tags": [],
            "status": "open",
        }
        events.append(TicketEvent(f"{tid}-0", "g", "ticket.created", t, tid, ticket))
        closed = False
        for n in range(1, rng.randint(2, 14)):
            t += timedelta(seconds=rng.randint(30, 4 * 3600))
            roll = rng.random()
            kind, attrs, channel, automated = "ticket.updated", {}, None, False
            if closed:
                kind = "ticket.reopened" if roll < 0.5 else "ticket.closed"
            elif roll < 0.25:
                kind, channel = "ticket.answered", rng.choice(["email", "chat", "call"])
                automated = rng.random() < 0.1
            elif roll < 0.45:
                kind, channel = "ticket.customer_replied", rng.choice(["email", "chat", "call"])
            elif roll < 0.55:
                attrs = {"status": rng.choice(["pending", "on_hold", "open"])}
            elif roll < 0.62:
                attrs = {"priority": rng.choice(["urgent", "normal"])}
            elif roll < 0.68:
                attrs = {"tags": rng.choice([["vip"], []]), "agent": f"a{rng.randint(1, 4)}"}
            elif roll < 0.74:
                attrs = {"department": rng.choice(["support", "office"])}
            elif roll < 0.86:
                kind = "ticket.closed"
            elif roll < 0.89:
                kind = "ticket.deleted"
            else:
                attrs = {"custom_fields": {"n": n}}
            closed = kind == "ticket.closed" or (closed and kind != "ticket.reopened")
            events.append(TicketEvent(f"{tid}-{n}", "g", kind, t, tid, attrs, channel, automated))
            if kind == "ticket.deleted":
                break
    events.sort(key=lambda e: e.time)
    for _ in range(len(events) // 30):  # late deliveries and duplicates
        i = rng.randrange(len(events))
        j = min(len(events), i + rng.randint(1, 40))
        events.insert(j, events[i] if rng.random() < 0.5 else events.pop(i))
    return events


def digest(seed: int) -> dict[str, str]:
    """The digests of what the stream emits and of the snapshot it leaves."""
    rng = random.Random(seed * 7919)
    policy = parse_policy(POLICY_TEXT)
    engine = PartitionEngine(0, policy)
    out = hashlib.sha256()
    rows = hashlib.sha256()

    def emit(events: list[Any]) -> None:
        for e in events:
            out.update(encode_sla_event(e, source="golden", emitted_at=EMITTED))
            out.update(b"\n")

    events = stream(seed)
    cuts = set(rng.sample(range(len(events)), 3))
    reload_at = rng.randrange(len(events))
    for i, event in enumerate(events):
        if i % 7 == 0:  # the watermark advanced between events, as a caught-up partition does
            emit(engine.advance(to_us(event.time) - rng.randint(0, 600) * 1_000_000))
        emit(engine.handle(event, WALL).outputs)
        if i in cuts:
            engine = round_trip(engine)
        if i == reload_at:
            engine.set_policy(parse_policy(RELOADED_TEXT))
    emit(engine.advance(to_us(events[-1].time + timedelta(days=10))))
    for ticket_id, state, *rest in sorted(all_rows(engine)):
        rows.update(ticket_id.encode() + b"\x00" + bytes(state) + repr(rest).encode())
    return {"outputs": out.hexdigest(), "snapshot": rows.hexdigest()}


def test_golden_streams_are_byte_identical() -> None:
    got = {str(seed): digest(seed) for seed in SEEDS}
    if os.environ.get("SLA_GOLDEN_WRITE"):
        GOLDEN.write_text(json.dumps(got, indent=1) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert got == want


@pytest.mark.parametrize("seed", [0, 5])
def test_a_golden_stream_exercises_what_it_claims(seed: int) -> None:
    """Guard the guard: the streams really produce every kind of SLA event."""
    engine = PartitionEngine(0, parse_policy(POLICY_TEXT))
    types: set[str] = set()
    events = stream(seed)
    for event in events:
        types.update(e.type for e in engine.handle(event, WALL).outputs)
    types.update(e.type for e in engine.advance(to_us(events[-1].time + timedelta(days=10))))
    assert types == set(SLA_TYPES)
