"""Property tests of a level's conditions against an oracle (SPEC section 8).

The oracle follows one ticket on a 24/7 calendar, where business time is wall time less the
paused spans: `pause_when` (the tag `hold`), `reset_when` (the team changed), `cancel_when` (the
custom field `spam`), `close_before_answer` (each of the three choices) and `periodic_update`
between agent updates. It shares no code with sla_core: it walks the events with the precedence
the SPEC states (cancel, then reset, then pause) and decides each timer's fate from its elapsed
time. Over 10,000 random sequences the engine's verdicts and elapsed times must equal it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_core.events import SlaEvent, TicketEvent
from sla_core.partition.engine import PartitionEngine, to_us
from sla_core.policy import Policy, parse_policy

TARGETS = {"first_answer": 60, "next_answer": 90, "resolution": 240, "periodic_update": 45}


def policy(close: str) -> Policy:
    return parse_policy(
        f"""
levels:
  std:
    targets: {{{", ".join(f"{m}: {t}m" for m, t in TARGETS.items())}}}
    pause_when: {{field: tags, op: contains, value: hold}}
    reset_when: {{field: team, op: changed}}
    cancel_when: {{field: custom_fields.spam, op: eq, value: true}}
    close_before_answer: {close}
default_level: std
"""
    )


POLICIES = {close: policy(close) for close in ("fulfil", "cancel", "miss")}
T0 = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
WALL = datetime(2031, 1, 1, tzinfo=UTC)
END = T0 + timedelta(days=30)
ANSWERS = ("first_answer", "next_answer")


@dataclass
class OracleTimer:
    metric: str
    start: int
    paused: int = 0
    paused_since: int | None = None
    verdict: str | None = None
    elapsed_at_end: int | None = None

    def elapsed(self, now: int) -> int:
        frozen = self.paused_since if self.paused_since is not None else now
        return frozen - self.start - self.paused


def met(t: OracleTimer, now: int) -> bool:
    """Stopped at or before its due (SPEC 4): the due is the instant its elapsed time reached
    the target, so a timer paused at that very instant and stopped later missed it."""
    target = TARGETS[t.metric] * 60
    elapsed = t.elapsed(now)
    return elapsed < target or (elapsed == target and t.paused_since in (None, now))


@dataclass
class Oracle:
    close: str
    timers: dict[str, OracleTimer] = field(default_factory=dict)
    running: dict[str, str] = field(default_factory=dict)
    cycles: dict[str, int] = field(default_factory=dict)
    answered: bool = False
    hold: bool = False
    spam: bool = False
    team: int = 0

    def start(self, metric: str, now: int) -> None:
        if metric in self.running or self.spam:
            return
        self.cycles[metric] = self.cycles.get(metric, 0) + 1
        tid = f"T:{metric}:{self.cycles[metric]}"
        self.timers[tid] = OracleTimer(metric, now, paused_since=now if self.hold else None)
        self.running[metric] = tid

    def end(self, metric: str, now: int, verdict: str | None = None) -> None:
        tid = self.running.pop(metric, None)
        if tid is None:
            return
        t = self.timers[tid]
        t.elapsed_at_end = t.elapsed(now)
        t.verdict = verdict or ("fulfilled" if met(t, now) else "missed")

    def apply(self, kind: str, now: int) -> None:
        changed_team = False
        if kind == "created":
            self.start("first_answer", now)
            self.start("resolution", now)
        elif kind == "replied":
            if not any(m in self.running for m in ANSWERS):
                self.start("next_answer" if self.answered else "first_answer", now)
        elif kind == "answered":
            for metric in ANSWERS:
                self.end(metric, now)
            self.answered = True
            self.end("periodic_update", now)
            self.start("periodic_update", now)
        elif kind == "closed":
            self.end("periodic_update", now, "cancelled")
            for metric in ANSWERS:
                if metric in self.running:
                    choice = {"fulfil": None, "cancel": "cancelled", "miss": "missed"}
                    self.end(metric, now, choice[self.close])
            self.end("resolution", now)
        elif kind == "reopened":
            self.start("next_answer", now)
            self.start("resolution", now)
        elif kind in ("hold", "unhold"):
            self.hold = kind == "hold"
        elif kind in ("spam", "unspam"):
            self.spam = kind == "spam"
        elif kind == "team":
            self.team += 1
            changed_team = True
        # the conditions, in the SPEC's order of precedence
        if self.spam:
            for metric in list(self.running):
                self.end(metric, now, "cancelled")
            return
        if changed_team:
            older = [m for m, tid in self.running.items() if self.timers[tid].start < now]
            for metric in older:
                self.end(metric, now, "cancelled")
            for metric in older:
                self.start(metric, now)
        for tid in self.running.values():
            t = self.timers[tid]
            if self.hold and t.paused_since is None:
                t.paused_since = now
            elif not self.hold and t.paused_since is not None:
                t.paused += now - t.paused_since
                t.paused_since = None

    def finish(self, now: int) -> None:
        for tid in self.running.values():
            t = self.timers[tid]
            t.elapsed_at_end = t.elapsed(now)


KINDS = ["replied", "answered", "hold", "unhold", "team", "spam", "unspam", "closed", "reopened"]
steps = st.lists(
    st.tuples(
        st.sampled_from(KINDS), st.integers(0, 120).map(lambda m: m * 60) | st.integers(0, 7200)
    ),
    max_size=16,
)


def ticket_events(raw: list[tuple[str, int]]) -> list[tuple[str, TicketEvent]]:
    events = [("created", TicketEvent("e0", "p", "ticket.created", T0, "T", {"team": "t0"}))]
    closed, now, team = False, 0, 0
    for kind, gap in raw:
        if closed != (kind == "reopened"):
            continue
        now += gap
        closed = kind == "closed"
        at = T0 + timedelta(seconds=now)
        n = f"e{len(events)}"
        ticket: dict[str, Any] = {}
        type_ = "ticket.updated"
        if kind in ("hold", "unhold"):
            ticket = {"tags": ["hold"] if kind == "hold" else []}
        elif kind in ("spam", "unspam"):
            ticket = {"custom_fields": {"spam": kind == "spam"}}
        elif kind == "team":
            team += 1
            ticket = {"team": f"t{team}"}
        else:
            type_ = {
                "replied": "ticket.customer_replied",
                "answered": "ticket.answered",
                "closed": "ticket.closed",
                "reopened": "ticket.reopened",
            }[kind]
        events.append((kind, TicketEvent(n, "p", type_, at, "T", ticket, channel="email")))
    return events


def run(close: str, events: list[TicketEvent]) -> list[SlaEvent]:
    engine = PartitionEngine(0, POLICIES[close])
    out: list[SlaEvent] = []
    for e in events:
        out += engine.handle(e, WALL).outputs
    out += engine.advance(to_us(END))
    return out


def verdicts(out: list[SlaEvent]) -> dict[str, tuple[str, int | None]]:
    """Each timer's ending (or `running`/`breached`) and its elapsed seconds at the ending."""
    found: dict[str, tuple[str, int | None]] = {}
    for e in out:
        tid = e.data.timer_id
        if e.type in ("sla.fulfilled", "sla.missed", "sla.cancelled"):
            found[tid] = (e.type.removeprefix("sla."), round(e.data.elapsed_seconds))
        elif tid not in found:
            found[tid] = ("running", None)
        if e.type == "sla.breached" and found[tid][0] == "running":
            found[tid] = ("breached", None)
    return found


@settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(raw=steps, close=st.sampled_from(["fulfil", "cancel", "miss"]))
def test_conditions_match_the_oracle(raw: list[tuple[str, int]], close: str) -> None:
    events = ticket_events(raw)
    oracle = Oracle(close)
    for kind, event in events:
        oracle.apply(kind, int((event.time - T0).total_seconds()))
    oracle.finish(int((END - T0).total_seconds()))
    got = verdicts(run(close, [e for _, e in events]))
    want: dict[str, tuple[str, int | None]] = {}
    for tid, t in oracle.timers.items():
        if t.verdict is not None:
            want[tid] = (t.verdict, t.elapsed_at_end)
        else:
            assert t.elapsed_at_end is not None
            over = t.elapsed_at_end > TARGETS[t.metric] * 60
            want[tid] = ("breached" if over else "running", None)
    assert got == want
