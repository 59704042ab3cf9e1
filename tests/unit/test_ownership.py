"""Ownership segments (SPEC section 11): hand-worked cases on office hours, and a property test
on a 24/7 calendar against an oracle that shares no code with sla_core (wall time less the paused
spans, cut at each change of holder)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec import UNSET

from sla_core.events import SlaEvent, TicketEvent
from sla_core.partition.engine import PartitionEngine
from sla_core.policy import parse_policy
from sla_core.timers import TicketState, state_from_dict, state_to_dict, timer_to_dict

OFFICE = parse_policy(
    """
calendars:
  office:
    timezone: Europe/Oslo
    hours: {mon-fri: ["09:00-17:00"]}
levels:
  standard:
    calendar: office
    targets: {first_answer: 4h, next_answer: 4h, resolution: 40h}
    pause_when_status: [pending]
default_level: standard
"""
)
ALWAYS = parse_policy(
    """
levels:
  std:
    targets: {first_answer: 10h, resolution: 20h}
    pause_when_status: [pending]
default_level: std
"""
)
MON = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)  # Monday 09:00 in Oslo
WALL = datetime(2031, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


class Feed:
    def __init__(self, policy: Any = OFFICE, ticket: str = "T") -> None:
        self.engine = PartitionEngine(0, policy)
        self.ticket = ticket
        self.n = 0

    def send(self, type_: str, when: datetime, **ticket: Any) -> list[SlaEvent]:
        self.n += 1
        event = TicketEvent(f"e{self.n}", "t", type_, when, self.ticket, ticket, channel="email")
        return self.engine.handle(event, WALL).outputs

    def state(self) -> TicketState:
        return self.engine.tickets[self.ticket]


def first_answer(events: list[SlaEvent], type_: str) -> SlaEvent:
    return next(e for e in events if e.type == type_ and e.data.metric == "first_answer")


def held(event: SlaEvent) -> list[tuple[str | None, str | None, float]]:
    segments = event.data.segments
    assert isinstance(segments, list)
    return [(s.agent, s.team, s.business_seconds) for s in segments]


def test_moved_to_b_after_3_hours_and_answered_2_hours_later_is_missed_in_b_hands() -> None:
    feed = Feed()
    feed.send("ticket.created", MON, agent="ann", team="A")
    assert feed.send("ticket.updated", MON + 3 * HOUR, agent="bob", team="B") == []
    breached = feed.engine.advance(int((MON + 4 * HOUR).timestamp() * 1_000_000) + 1)
    breach = first_answer(breached, "sla.breached")
    assert (breach.data.breach_agent, breach.data.breach_team) == ("bob", "B")
    assert held(breach) == [("ann", "A", 3 * 3600.0), ("bob", "B", 3600.0)]
    missed = first_answer(feed.send("ticket.answered", MON + 5 * HOUR), "sla.missed")
    assert held(missed) == [("ann", "A", 3 * 3600.0), ("bob", "B", 2 * 3600.0)]
    assert missed.data.elapsed_seconds == 5 * 3600.0
    assert (missed.data.breach_agent, missed.data.breach_team) == ("bob", "B")
    assert (missed.data.agent, missed.data.team) == ("bob", "B")  # the last holder


def test_a_breach_in_a_hands_before_the_move_stays_with_a() -> None:
    feed = Feed()
    feed.send("ticket.created", MON, agent="ann", team="A")
    feed.send("ticket.updated", MON + 5 * HOUR, agent="bob", team="B")
    missed = first_answer(feed.send("ticket.answered", MON + 6 * HOUR), "sla.missed")
    assert (missed.data.breach_agent, missed.data.breach_team) == ("ann", "A")
    assert (missed.data.agent, missed.data.team) == ("bob", "B")
    assert held(missed) == [("ann", "A", 5 * 3600.0), ("bob", "B", 3600.0)]


def test_closed_hours_and_pauses_are_left_out_of_a_segment() -> None:
    feed = Feed()
    feed.send("ticket.created", MON + 6 * HOUR, team="A")  # 15:00 Oslo
    feed.send("ticket.updated", MON + 7 * HOUR, status="pending")  # 16:00, paused
    feed.send("ticket.updated", MON + 24 * HOUR, status="open")  # Tuesday 09:00, resumed
    feed.send("ticket.updated", MON + 25 * HOUR, team="B")  # Tuesday 10:00
    out = feed.send("ticket.closed", MON + 26 * HOUR)  # 11:00
    resolution = next(e for e in out if e.data.metric == "resolution")
    assert held(resolution) == [(None, "A", 2 * 3600.0), (None, "B", 3600.0)]
    assert resolution.type == "sla.fulfilled"


def test_a_fulfilled_timer_carries_segments_and_no_breach_holder() -> None:
    feed = Feed()
    feed.send("ticket.created", MON, team="A")
    feed.send("ticket.updated", MON + HOUR, team="B")
    done = first_answer(feed.send("ticket.answered", MON + 2 * HOUR), "sla.fulfilled")
    assert held(done) == [(None, "A", 3600.0), (None, "B", 3600.0)]
    assert done.data.breach_team is UNSET and done.data.breach_agent is UNSET


def test_no_change_of_holder_records_nothing_and_snapshots_stay_as_they_were() -> None:
    feed = Feed()
    started = feed.send("ticket.created", MON, agent="ann", team="A")
    feed.send("ticket.updated", MON + HOUR, priority="high", agent="ann")
    state = feed.state()
    assert all(t.owners == () for t in state.running.values())
    assert all("o" not in timer_to_dict(t) for t in state.running.values())
    assert started[0].data.segments is UNSET and started[0].data.team == "A"


def test_the_holders_survive_a_snapshot() -> None:
    feed = Feed()
    feed.send("ticket.created", MON, agent="ann", team="A")
    feed.send("ticket.updated", MON + HOUR, team="B")
    raw = state_to_dict(feed.state())
    assert next(t["o"] for t in raw["r"]) == [
        [int(MON.timestamp() * 1_000_000), "ann", "A"],
        [int((MON + HOUR).timestamp() * 1_000_000), "ann", "B"],
    ]
    restored = state_from_dict("T", raw, OFFICE)
    assert [t.owners for t in restored.running.values()] == [
        t.owners for t in feed.state().running.values()
    ]


def test_a_change_at_the_timers_start_replaces_its_first_holder() -> None:
    feed = Feed()
    feed.send("ticket.created", MON, team="A")
    feed.send("ticket.updated", MON, team="B")
    assert all(t.owners == () for t in feed.state().running.values())
    done = first_answer(feed.send("ticket.answered", MON + HOUR), "sla.fulfilled")
    assert held(done) == [(None, "B", 3600.0)]


# ---- property: 24/7 against an oracle ---------------------------------------------------------

STEPS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=180),  # minutes after the previous step
        st.sampled_from(["agent", "team", "pause", "resume", "same"]),
        st.integers(min_value=0, max_value=2),
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS, st.integers(min_value=1, max_value=600))
def test_segments_equal_wall_time_less_pauses_per_holder(
    steps: list[tuple[int, str, int]], close_after: int
) -> None:
    feed = Feed(ALWAYS)
    feed.send("ticket.created", MON, agent="a0", team="t0")
    holder = ("a0", "t0")
    cuts = [(0, holder)]  # (minute, holder from then on)
    paused_since: int | None = None
    pauses: list[tuple[int, int]] = []
    now = 0
    for gap, kind, n in steps:
        now += gap
        when = MON + timedelta(minutes=now)
        if kind == "agent" and holder[0] != f"a{n}":
            holder = (f"a{n}", holder[1])
            feed.send("ticket.updated", when, agent=holder[0])
        elif kind == "team" and holder[1] != f"t{n}":
            holder = (holder[0], f"t{n}")
            feed.send("ticket.updated", when, team=holder[1])
        elif kind == "pause" and paused_since is None:
            paused_since = now
            feed.send("ticket.updated", when, status="pending")
        elif kind == "resume" and paused_since is not None:
            pauses.append((paused_since, now))
            paused_since = None
            feed.send("ticket.updated", when, status="open")
        else:
            continue
        if kind in ("agent", "team"):
            if cuts[-1][0] == now:
                cuts[-1] = (now, holder)
            else:
                cuts.append((now, holder))
    end = now + close_after
    if paused_since is not None:
        pauses.append((paused_since, end))
    out = feed.send("ticket.closed", MON + timedelta(minutes=end))
    resolution = next(e for e in out if e.data.metric == "resolution" and e.data.stopped_at)

    def business(a: int, b: int) -> float:
        overlap = sum(max(0, min(b, pe) - max(a, ps)) for ps, pe in pauses)
        return (b - a - overlap) * 60.0

    expected = [
        (h[0], h[1], business(start, cuts[i + 1][0] if i + 1 < len(cuts) else end))
        for i, (start, h) in enumerate(cuts)
    ]
    assert held(resolution) == expected
    assert sum(s[2] for s in expected) == resolution.data.elapsed_seconds
