"""A timer's time zone (SPEC section 8): chosen from the ticket when the timer starts, carried on
its SLA events, kept for the timer's life, counted when it falls back, kept through snapshots.

The calendar `customer-local` is open Mon-Fri 08:00-18:00 in the customer's zone, by default
Europe/Oslo. T0 is Monday 2026-11-16 10:00 UTC: 11:00 in Oslo (UTC+1), 07:00 in Sao Paulo
(UTC-3, no DST since 2019), 15:45 in Kathmandu (UTC+5:45).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from sla_core.events import SlaEvent, TicketEvent
from sla_core.partition.engine import PartitionEngine
from sla_core.policy import parse_policy
from sla_core.timers import TicketState, apply, timer_to_dict
from tests.support.snapshots import all_rows, round_trip

POLICY = """
calendars:
  customer-local:
    timezone: {from: customer_timezone, default: Europe/Oslo}
    hours: {mon-fri: ["08:00-18:00"]}
  customer-local-gold:
    timezone: {from: customer_timezone, default: Europe/Oslo}
    hours: {mon-fri: ["07:00-19:00"]}
  oslo-office:
    timezone: Europe/Oslo
    hours: {mon-fri: ["08:00-18:00"]}
levels:
  standard:
    calendar: customer-local
    targets: {first_answer: 4h, next_answer: 4h}
    pause_when_status: [pending]
  gold:
    calendar: customer-local-gold
    targets: {first_answer: 2h, next_answer: 2h}
  office:
    calendar: oslo-office
    targets: {first_answer: 4h, next_answer: 4h}
default_level: standard
rules:
  - name: gold
    when: {field: priority, op: eq, value: urgent}
    then: {set_level: gold}
  - name: office
    when: {field: department, op: eq, value: office}
    then: {set_level: office}
"""
T0 = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)  # a Monday
WALL = datetime(2030, 1, 1, tzinfo=UTC)
SAO_PAULO, OSLO = "America/Sao_Paulo", "Europe/Oslo"


def utc(hour: int, minute: int = 0, day: int = 16) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


class Ticket:
    """One ticket's state under the policy, fed event by event."""

    def __init__(self, policy_text: str = POLICY) -> None:
        self.policy = parse_policy(policy_text)
        self.state = TicketState("T-1")
        self.n = 0
        self.fallbacks: list[str] = []

    def send(self, kind: str, at: datetime, **ticket: Any) -> list[SlaEvent]:
        self.n += 1
        event = TicketEvent(f"e{self.n}", "test", kind, at, "T-1", ticket)
        step = apply(self.state, event, self.policy)
        self.fallbacks.extend(step.zone_fallbacks)
        return step.outputs


def zone_of(event: SlaEvent) -> tuple[str | None, str | None]:
    return event.data.timezone, event.data.timezone_source


def test_the_customers_zone_sets_the_due_and_is_carried_on_the_events() -> None:
    # 07:00 in Sao Paulo: counting starts at 08:00 there, 4h later is 12:00 = 15:00 UTC.
    ticket = Ticket()
    (started,) = ticket.send("ticket.created", T0, customer_timezone=SAO_PAULO)
    assert started.data.due_at == utc(15)
    assert zone_of(started) == (SAO_PAULO, "ticket")
    assert started.data.calendar == "customer-local"
    assert ticket.fallbacks == []


@pytest.mark.parametrize(
    "attrs",
    [{}, {"customer_timezone": None}, {"customer_timezone": "Asia/Kathmandoo"}],
    ids=["absent", "null", "invalid"],
)
def test_no_usable_zone_falls_back_to_the_default_and_is_counted(attrs: dict[str, Any]) -> None:
    # 11:00 in Oslo: 4h later is 15:00 Oslo = 14:00 UTC.
    ticket = Ticket()
    (started,) = ticket.send("ticket.created", T0, **attrs)
    assert started.data.due_at == utc(14)
    assert zone_of(started) == (OSLO, "default")
    assert ticket.fallbacks == ["customer-local"]


def test_a_fixed_zone_calendar_says_so() -> None:
    ticket = Ticket()
    (started,) = ticket.send("ticket.created", T0, department="office", customer_timezone=SAO_PAULO)
    assert zone_of(started) == (OSLO, "calendar")
    assert started.data.due_at == utc(14)
    assert ticket.fallbacks == []


def test_a_running_timer_keeps_its_zone_when_the_attribute_changes() -> None:
    """The zone is the timer's, chosen at its start: a later change of the customer's zone moves
    neither its due nor its events' zone; the next timer takes the new zone."""
    ticket = Ticket()
    ticket.send("ticket.created", T0, customer_timezone=SAO_PAULO)
    (paused,) = ticket.send("ticket.updated", utc(11), customer_timezone=OSLO, status="pending")
    (resumed,) = ticket.send("ticket.updated", utc(12), status="open")
    # paused 11:00-12:00 UTC (08:00-09:00 in Sao Paulo, open): the due moves an hour
    assert zone_of(paused) == zone_of(resumed) == (SAO_PAULO, "ticket")
    assert resumed.data.due_at == utc(16)
    (fulfilled,) = ticket.send("ticket.answered", utc(13))
    assert zone_of(fulfilled) == (SAO_PAULO, "ticket")
    (started,) = ticket.send("ticket.customer_replied", utc(13, 30))
    assert started.data.metric == "next_answer"
    assert zone_of(started) == (OSLO, "ticket")
    # from 14:30 Oslo: 3h30m to the 18:00 closing, the last 30m on Tuesday from 08:00 Oslo
    assert started.data.due_at == utc(7, 30, day=17)


def test_a_retarget_keeps_the_zone_the_timer_started_with() -> None:
    ticket = Ticket()
    ticket.send("ticket.created", T0, customer_timezone=SAO_PAULO)
    # to gold (another calendar from the ticket): still Sao Paulo, though the ticket now says Oslo
    (gold,) = ticket.send("ticket.updated", utc(11), priority="urgent", customer_timezone=OSLO)
    assert (gold.type, gold.data.calendar) == ("sla.retargeted", "customer-local-gold")
    assert zone_of(gold) == (SAO_PAULO, "ticket")
    assert gold.data.due_at == utc(12)  # 07:00-09:00 Sao Paulo: 2h from 07:00 local
    # to office (a fixed zone): the calendar's zone
    (office,) = ticket.send("ticket.updated", utc(11, 30), priority="low", department="office")
    assert (office.data.calendar, zone_of(office)) == ("oslo-office", (OSLO, "calendar"))
    assert ticket.fallbacks == []


def test_a_timer_moving_from_a_fixed_zone_onto_the_customers_resolves_it_then() -> None:
    ticket = Ticket()
    ticket.send("ticket.created", T0, department="office")
    (moved,) = ticket.send(
        "ticket.updated", utc(11), department="support", customer_timezone="Nowhere/Atlantis"
    )
    assert (moved.data.calendar, zone_of(moved)) == ("customer-local", (OSLO, "default"))
    assert ticket.fallbacks == ["customer-local"]


def test_the_snapshot_form_carries_a_zone_only_when_the_ticket_chose_it() -> None:
    forms = {}
    for name, attrs in {
        "fixed": {"department": "office", "customer_timezone": SAO_PAULO},
        "ticket": {"customer_timezone": SAO_PAULO},
        "default": {"customer_timezone": "bad"},
    }.items():
        ticket = Ticket()
        ticket.send("ticket.created", T0, **attrs)
        (timer,) = ticket.state.running.values()
        raw = timer_to_dict(timer)
        forms[name] = {key: raw[key] for key in ("z", "zs") if key in raw}
    assert forms == {
        "fixed": {},  # as before zones came from tickets: existing rows stay byte-identical
        "ticket": {"z": SAO_PAULO},
        "default": {"z": OSLO, "zs": "default"},
    }


@pytest.mark.parametrize("zone", [SAO_PAULO, "Asia/Kathmandoo", None])
def test_a_restored_timer_keeps_its_zone(zone: str | None) -> None:
    policy = parse_policy(POLICY)
    created = TicketEvent("e1", "t", "ticket.created", T0, "T-1", {"customer_timezone": zone})
    changed = TicketEvent("e2", "t", "ticket.updated", utc(11), "T-1", {"customer_timezone": OSLO})
    answered = TicketEvent("e3", "t", "ticket.answered", utc(12), "T-1", {})
    live = PartitionEngine(0, policy)
    live_out = [e for ev in (created, changed, answered) for e in live.handle(ev, WALL).outputs]
    engine = PartitionEngine(0, policy)
    first = engine.handle(created, WALL).outputs
    engine = round_trip(engine)
    rest = [e for ev in (changed, answered) for e in engine.handle(ev, WALL).outputs]
    assert [*first, *rest] == live_out
    (timer,) = [e for e in live_out if e.type == "sla.fulfilled"]
    assert zone_of(timer) == ((SAO_PAULO, "ticket") if zone == SAO_PAULO else (OSLO, "default"))
    # the restored engine's rows are the live engine's, byte for byte
    assert all_rows(engine) == all_rows(live)


def test_the_engine_reports_fallbacks_for_the_metric() -> None:
    engine = PartitionEngine(0, parse_policy(POLICY))
    event = TicketEvent("e1", "t", "ticket.created", T0, "T-1", {"customer_timezone": "x/y"})
    assert engine.handle(event, WALL).zone_fallbacks == ("customer-local",)
    again = TicketEvent("e2", "t", "ticket.created", T0, "T-2", {"customer_timezone": SAO_PAULO})
    assert engine.handle(again, WALL).zone_fallbacks == ()


def test_a_stored_zone_this_machine_does_not_know_falls_back_to_the_policys() -> None:
    engine = PartitionEngine(0, parse_policy(POLICY))
    engine.handle(
        TicketEvent("e1", "t", "ticket.created", T0, "T-1", {"customer_timezone": SAO_PAULO}),
        WALL,
    )
    rows = [
        (tid, orjson.dumps(orjson.loads(raw.replace(b"America/Sao_Paulo", b"Gone/Zone"))), *rest)
        for tid, raw, *rest in all_rows(engine)
    ]
    restored = PartitionEngine.restore(0, engine.policy, engine.meta(), rows)
    closed = TicketEvent("e2", "t", "ticket.closed", T0 + timedelta(hours=1), "T-1", {})
    (ended,) = restored.handle(closed, WALL).outputs
    assert zone_of(ended) == (OSLO, "default")
