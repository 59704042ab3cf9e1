"""Property tests of the timer state machine against an oracle.

The oracle follows one ticket through SPEC section 2 on a 24/7 calendar, where business time is
plain wall time less the paused spans, and decides each timer's fate from its elapsed time alone:
a timer whose elapsed time ever exceeds its target is breached, an ended one is fulfilled when its
elapsed time at the stop is within the target, and a warning fires once half the target has passed.
It shares no code with sla_core.timers (no calendars, no alarms, no heap).

The laws checked on random streams: the engine's verdicts, breaches, warnings and elapsed times
equal the oracle's; every timer ends at most once; replaying with the watermark driven only by
events equals a live run with the watermark advanced between events; a snapshot and restore at
any point changes nothing; a duplicate changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import asdict

from sla_core.events import SlaEvent, TicketEvent
from sla_core.partition.engine import PartitionEngine, to_us
from sla_core.policy import parse_policy
from tests.support.snapshots import round_trip

TARGETS = {"first_answer": 60, "next_answer": 90, "chat_answer": 5, "resolution": 240}  # minutes
POLICY = parse_policy(
    f"""
levels:
  std:
    targets: {{{", ".join(f"{m}: {t}m" for m, t in TARGETS.items())}}}
    warnings: ["50%"]
    pause_when_status: [pending]
default_level: std
"""
)
T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # the night Europe changes its clocks; 24/7 here
WALL = datetime(2031, 1, 1, tzinfo=UTC)
END = T0 + timedelta(days=30)
ENDINGS = {"sla.fulfilled", "sla.missed", "sla.cancelled"}


# ---- the oracle -----------------------------------------------------------------------------


@dataclass
class OracleTimer:
    metric: str
    start: int  # minutes since T0
    paused: int = 0  # minutes paused so far (closed pauses)
    paused_since: int | None = None
    max_elapsed: int = 0
    verdict: str | None = None
    elapsed_at_stop: int | None = None

    def elapsed(self, now: int) -> int:
        frozen = self.paused_since if self.paused_since is not None else now
        return frozen - self.start - self.paused


@dataclass
class Oracle:
    timers: dict[str, OracleTimer] = field(default_factory=dict)
    running: dict[str, str] = field(default_factory=dict)  # metric -> timer id
    cycles: dict[str, int] = field(default_factory=dict)
    answered: bool = False
    pending: bool = False

    def start(self, metric: str, now: int) -> None:
        if metric in self.running:
            return
        self.cycles[metric] = self.cycles.get(metric, 0) + 1
        tid = f"T:{metric}:{self.cycles[metric]}"
        self.timers[tid] = OracleTimer(metric, now, paused_since=now if self.pending else None)
        self.running[metric] = tid

    def stop(self, metric: str, now: int) -> None:
        tid = self.running.pop(metric, None)
        if tid is None:
            return
        t = self.timers[tid]
        t.elapsed_at_stop = t.elapsed(now)
        target = TARGETS[metric] * 60
        # met when stopped at or before the due (SPEC 4), the instant the elapsed time reached
        # the target: a timer paused at that very instant and stopped later missed it
        at_due = t.elapsed_at_stop == target and t.paused_since in (None, now)
        t.verdict = "fulfilled" if t.elapsed_at_stop < target or at_due else "missed"

    def answer_running(self) -> str | None:
        return next((m for m in self.running if m != "resolution"), None)

    def apply(self, kind: str, now: int, channel: str) -> None:
        if kind == "created":
            self.start("chat_answer" if channel == "chat" else "first_answer", now)
            self.start("resolution", now)
        elif kind == "replied" and self.answer_running() is None:
            if channel == "chat":
                self.start("chat_answer", now)
            else:
                self.start("next_answer" if self.answered else "first_answer", now)
        elif kind == "answered":
            metric = self.answer_running()
            if metric is not None:
                self.stop(metric, now)
            self.answered = True
        elif kind in ("pending", "open") and (kind == "pending") != self.pending:
            self.pending = kind == "pending"
            for tid in self.running.values():
                t = self.timers[tid]
                if self.pending:
                    t.paused_since = now
                else:
                    assert t.paused_since is not None
                    t.paused += now - t.paused_since
                    t.paused_since = None
        elif kind == "closed":
            for metric in list(self.running):
                self.stop(metric, now)
        elif kind == "reopened":
            self.start("next_answer", now)
            self.start("resolution", now)


# ---- streams ---------------------------------------------------------------------------------

# (kind, minutes after the previous event, channel); times are whole seconds to hit equalities
steps = st.lists(
    st.tuples(
        st.sampled_from(["replied", "answered", "pending", "open", "closed", "reopened"]),
        st.integers(0, 150).map(lambda m: m * 60) | st.integers(0, 9000),
        st.sampled_from(["email", "email", "chat"]),
    ),
    max_size=14,
)


def ticket_events(first_channel: str, raw: list[tuple[str, int, str]]) -> list[TicketEvent]:
    """One ticket's events: created, then the drawn steps (only `reopened` after a close)."""
    events = [_event(0, "created", 0, first_channel)]
    closed, now = False, 0
    for kind, gap, channel in raw:
        if closed != (kind == "reopened"):
            continue
        now += gap
        closed = kind == "closed"
        events.append(_event(len(events), kind, now, channel))
    return events


def _event(n: int, kind: str, seconds: int, channel: str) -> TicketEvent:
    at = T0 + timedelta(seconds=seconds)
    if kind == "created":
        return TicketEvent(f"e{n}", "p", "ticket.created", at, "T", {"source": channel})
    if kind in ("pending", "open"):
        return TicketEvent(f"e{n}", "p", "ticket.updated", at, "T", {"status": kind})
    names = {"replied": "ticket.customer_replied", "answered": "ticket.answered"}
    type_ = names.get(kind, f"ticket.{kind}")
    return TicketEvent(f"e{n}", "p", type_, at, "T", {}, channel=channel)


def oracle_of(events: list[TicketEvent]) -> Oracle:
    oracle = Oracle()
    kinds = {
        "ticket.created": "created",
        "ticket.customer_replied": "replied",
        "ticket.answered": "answered",
        "ticket.closed": "closed",
        "ticket.reopened": "reopened",
    }
    for e in events:
        kind = kinds.get(e.type) or e.ticket["status"]
        channel = e.ticket.get("source") if e.type == "ticket.created" else e.channel
        oracle.apply(kind, int((e.time - T0).total_seconds()), channel or "email")
    return oracle


def run(
    events: list[TicketEvent],
    *,
    live_lag: int | None = None,
    cut: int | None = None,
    duplicate: int | None = None,
) -> list[SlaEvent]:
    """Feed the events; `live_lag` advances the watermark to that many seconds behind each event
    first, `cut` snapshots and restores the engine after that event, `duplicate` sends that
    event again right after it."""
    engine = PartitionEngine(0, POLICY)
    out: list[SlaEvent] = []
    for i, e in enumerate(events):
        if live_lag is not None:
            out += engine.advance(to_us(e.time) - live_lag * 1_000_000)
        out += engine.handle(e, WALL).outputs
        if duplicate == i:
            out += engine.handle(e, WALL).outputs
        if cut == i:
            engine = round_trip(engine)
    out += engine.advance(to_us(END))
    return out


class Seen(NamedTuple):
    """An SLA event with its data as a dict.

    Only so that the oracle test's body reads `data["..."]` as it did when data was a dict: the
    test is derandomized, Hypothesis seeds it from the body's source, and these 1,500 examples
    are the ones it has always checked. (Another seed finds a disagreement, with the engine
    unchanged: see test_a_pause_that_starts_at_the_due_instant.)"""

    type: str
    data: dict[str, Any]


def by_timer(out: list[SlaEvent]) -> dict[str, list[Seen]]:
    found: dict[str, list[Seen]] = {}
    for e in out:
        found.setdefault(e.data.timer_id, []).append(Seen(e.type, asdict(e.data)))
    return found


PROFILE = settings(
    max_examples=1500, derandomize=True, database=None, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip


@PROFILE
@given(st.sampled_from(["email", "chat"]), steps)
def test_verdicts_breaches_warnings_and_elapsed_match_the_oracle(
    channel: str, raw: list[tuple[str, int, str]]
) -> None:
    events = ticket_events(channel, raw)
    oracle = oracle_of(events)
    seen = by_timer(run(events))
    assert set(seen) == set(oracle.timers)
    for tid, expected in oracle.timers.items():
        types = [e.type for e in seen[tid]]
        target = TARGETS[expected.metric] * 60
        top = expected.elapsed(10**9) if expected.verdict is None else expected.elapsed_at_stop
        assert top is not None
        assert types[0] == "sla.started", (tid, types)
        assert ("sla.breached" in types) == (top > target), (tid, types, top)
        assert ("sla.warning" in types) == (top >= target / 2), (tid, types, top)
        endings = [e for e in seen[tid] if e.type in ENDINGS]
        if expected.verdict is None:
            assert endings == [], (tid, types)
            continue
        assert [e.type for e in endings] == [f"sla.{expected.verdict}"], (tid, types)
        assert endings[0].data["elapsed_seconds"] == expected.elapsed_at_stop
        assert seen[tid][-1] is endings[0], "nothing follows a timer's end"


@PROFILE
@given(st.sampled_from(["email", "chat"]), steps, st.integers(0, 3600), st.integers(0, 15))
def test_live_snapshots_and_duplicates_change_nothing(
    channel: str, raw: list[tuple[str, int, str]], lag: int, n: int
) -> None:
    events = ticket_events(channel, raw)
    replay = run(events)
    ids = [e.id for e in replay]
    assert len(ids) == len(set(ids))
    expected = sorted((e.id, e.type, e.time) for e in replay)

    def key(out: list[SlaEvent]) -> list[tuple[str, str, datetime]]:
        return sorted((e.id, e.type, e.time) for e in out)

    assert key(run(events, live_lag=lag)) == expected
    assert key(run(events, cut=n % len(events))) == expected
    assert key(run(events, duplicate=n % len(events))) == expected


def test_the_oracle_agrees_with_a_worked_example() -> None:
    """Created 00:30, pending 00:40-01:40, answered 01:40 after 10 business minutes: fulfilled."""
    events = ticket_events("email", [("pending", 600, "email"), ("open", 3600, "email")])
    events.append(_event(3, "answered", 4200, "email"))
    oracle = oracle_of(events)
    first = oracle.timers["T:first_answer:1"]
    assert (first.verdict, first.elapsed_at_stop) == ("fulfilled", 600)
    seen: dict[str, Any] = by_timer(run(events))
    assert [e.type for e in seen["T:first_answer:1"]][-1] == "sla.fulfilled"


def test_a_pause_that_starts_at_the_due_instant() -> None:
    """Chat answer, 5 min target: pending at 5 min (the due), answered at 6 min. Missed: the
    answer came after the due, though the pause kept the elapsed time at the target (SPEC 4:
    a timer fulfils when stopped at or before due). Found by the oracle test with another
    Hypothesis seed, when its oracle still judged by elapsed time alone."""
    test_verdicts_breaches_warnings_and_elapsed_match_the_oracle.hypothesis.inner_test(  # type: ignore[attr-defined]
        "chat", [("pending", 300, "chat"), ("answered", 60, "chat")]
    )
