"""Conditions, worked by hand (SPEC section 8): a tag that pauses, a team change that resets, a
spam flag that cancels, a periodic update missed, an untouched ticket that escalates at
`older_than`, and each `close_before_answer` choice. Times are event times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sla_core.conditions import conflicts
from sla_core.events import SlaEvent, TicketEvent
from sla_core.partition.engine import PartitionEngine, to_us
from sla_core.policy import parse_policy
from sla_core.policy_summary import summarize
from tests.support.snapshots import round_trip

POLICY = """
calendars:
  office:
    timezone: Europe/Oslo
    hours: {mon-fri: ["09:00-17:00"]}
levels:
  standard:
    calendar: office
    targets: {first_answer: 8h, next_answer: 8h, periodic_update: 24h, resolution: 40h}
    pause_when: {any: [{field: status, op: in, value: [pending, on_hold]},
                       {field: tags, op: contains, value: waiting-for-vendor}]}
    reset_when: {field: team, op: changed}
    cancel_when: {field: custom_fields.spam, op: eq, value: true}
    close_before_answer: CLOSE
  urgent:
    targets: {first_answer: 1h, resolution: 8h}
default_level: standard
rules:
  - name: high priority untouched for 4 hours
    when: {all: [{field: priority, op: eq, value: high},
                 {field: changed_at, op: older_than, value: 4h}]}
    then: {set_level: urgent}
"""
MON = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)  # Monday 09:00 in Oslo
WALL = datetime(2031, 1, 1, tzinfo=UTC)


class Feed:
    def __init__(self, close: str = "fulfil") -> None:
        self.engine = PartitionEngine(0, parse_policy(POLICY.replace("CLOSE", close)))
        self.n = 0

    def send(self, type_: str, when: datetime, **ticket: Any) -> list[SlaEvent]:
        self.n += 1
        event = TicketEvent(f"e{self.n}", "t", type_, when, "T", ticket, channel="email")
        return self.engine.handle(event, WALL).outputs

    def advance(self, when: datetime) -> list[SlaEvent]:
        return self.engine.advance(to_us(when))


def kinds(events: list[SlaEvent]) -> list[str]:
    return [f"{e.type}:{e.data.timer_id}" for e in events]


def test_a_tag_pauses_on_any_event_a_reply_included_and_resumes_when_it_goes() -> None:
    feed = Feed()
    feed.send("ticket.created", MON, team="A")
    out = feed.send(
        "ticket.customer_replied", MON + timedelta(hours=1), tags=["waiting-for-vendor"]
    )
    assert kinds(out) == ["sla.paused:T:first_answer:1", "sla.paused:T:resolution:1"]
    out = feed.send("ticket.updated", MON + timedelta(hours=3), tags=[])
    assert kinds(out) == ["sla.resumed:T:first_answer:1", "sla.resumed:T:resolution:1"]
    # 09:00-10:00 counted, paused until 12:00 Oslo: 5 h more by 17:00, the last 2 h on Tuesday
    # from 09:00, so due Tuesday 11:00 Oslo
    assert out[0].data.due_at == datetime(2026, 11, 17, 10, 0, tzinfo=UTC)


def test_a_team_change_resets_the_running_timers_to_new_cycles() -> None:
    feed = Feed()
    feed.send("ticket.created", MON, team="A")
    out = feed.send("ticket.updated", MON + timedelta(hours=2), team="B")
    assert kinds(out) == [
        "sla.cancelled:T:first_answer:1",
        "sla.cancelled:T:resolution:1",
        "sla.started:T:first_answer:2",
        "sla.started:T:resolution:2",
    ]
    assert {e.data.reason for e in out[:2]} == {"reset"}
    assert out[2].data.started_at == MON + timedelta(hours=2)
    # the same team again is no change: nothing resets
    assert [e for e in feed.send("ticket.updated", MON + timedelta(hours=3), team="B")] == []


def test_a_spam_flag_cancels_and_no_timer_starts_while_it_holds() -> None:
    feed = Feed()
    feed.send("ticket.created", MON)
    out = feed.send("ticket.updated", MON + timedelta(minutes=5), custom_fields={"spam": True})
    assert kinds(out) == ["sla.cancelled:T:first_answer:1", "sla.cancelled:T:resolution:1"]
    assert {e.data.reason for e in out} == {"cancel_condition"}
    assert feed.send("ticket.customer_replied", MON + timedelta(minutes=9)) == []
    out = feed.send("ticket.updated", MON + timedelta(minutes=20), custom_fields={"spam": False})
    assert out == []  # cancelled timers stay cancelled; the next reply starts a cycle
    out = feed.send("ticket.customer_replied", MON + timedelta(minutes=30))
    assert kinds(out) == ["sla.started:T:first_answer:2"]


def test_a_periodic_update_is_missed_after_24_business_hours() -> None:
    feed = Feed()
    feed.send("ticket.created", MON)
    out = feed.send("ticket.answered", MON + timedelta(hours=1))
    assert kinds(out) == ["sla.fulfilled:T:first_answer:1", "sla.started:T:periodic_update:1"]
    started = out[1].data
    # 24 business hours from Monday 10:00 Oslo, 8 h a day: Thursday 10:00 Oslo
    assert started.due_at == datetime(2026, 11, 19, 9, 0, tzinfo=UTC)
    breached = feed.advance(datetime(2026, 11, 19, 9, 0, 1, tzinfo=UTC))
    assert kinds(breached) == ["sla.breached:T:periodic_update:1"]
    out = feed.send("ticket.answered", datetime(2026, 11, 19, 12, 0, tzinfo=UTC))
    assert kinds(out) == ["sla.missed:T:periodic_update:1", "sla.started:T:periodic_update:2"]
    out = feed.send("ticket.closed", datetime(2026, 11, 19, 13, 0, tzinfo=UTC))
    cancelled = [e for e in out if e.data.metric == "periodic_update"]
    assert kinds(cancelled) == ["sla.cancelled:T:periodic_update:2"]
    assert cancelled[0].data.reason == "closed"


@pytest.mark.parametrize("restored", [False, True])
def test_an_untouched_ticket_escalates_exactly_when_it_becomes_older_than_the_limit(
    restored: bool,
) -> None:
    feed = Feed()
    feed.send("ticket.created", MON, priority="high")
    if restored:  # a restart in between: the packed row's alarm is the flip
        feed.engine = round_trip(feed.engine)
    flip = MON + timedelta(hours=4)
    assert feed.advance(flip) == []  # at 4 h it is not yet older than 4 h
    out = feed.advance(flip + timedelta(microseconds=1))
    assert kinds(out) == [
        "sla.retargeted:T:first_answer:1",
        "sla.retargeted:T:resolution:1",
        "sla.breached:T:first_answer:1",  # urgent is 1 h, 24/7, from the original start
    ]
    assert out[0].time == flip + timedelta(microseconds=1)
    assert out[0].data.level == "urgent" and out[0].data.reason == "standard"
    assert out[2].time == MON + timedelta(hours=1)


@pytest.mark.parametrize(
    ("close", "ending", "reason"),
    [("fulfil", "sla.fulfilled", None), ("cancel", "sla.cancelled", "closed"),
     ("miss", "sla.missed", None)],
)  # fmt: skip
def test_closing_before_an_answer_counts_as_the_level_says(
    close: str, ending: str, reason: str | None
) -> None:
    feed = Feed(close)
    feed.send("ticket.created", MON)
    out = feed.send("ticket.closed", MON + timedelta(minutes=30))
    answer = [e for e in out if e.data.metric == "first_answer"]
    assert [(e.type, e.data.reason) for e in answer] == [(ending, reason)]
    resolution = [e for e in out if e.data.metric == "resolution"]
    assert [e.type for e in resolution] == ["sla.fulfilled"]  # the close resolves, whatever


def test_check_policy_summarises_conditions_and_lints_a_cancel_that_defeats_a_pause() -> None:
    policy = parse_policy(POLICY.replace("CLOSE", "miss"))
    text = summarize(policy)
    assert "pause when" in text and "reset when team changed\n" in text
    assert "cancel when custom_fields.spam eq True" in text
    assert "close before answer: miss" in text
    trap = parse_policy(
        "levels:\n  l:\n    targets: {first_answer: 1h}\n"
        "    pause_when: {field: status, op: eq, value: pending}\n"
        "    cancel_when: {field: status, op: ne, value: open}\n"
    )
    (warning,) = conflicts("l", trap.levels["l"].conditions)
    assert "cancel_when tests status, which pause_when tests too" in warning
