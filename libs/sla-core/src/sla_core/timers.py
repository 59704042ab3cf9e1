"""The per-ticket SLA state machine: `apply(state, event, policy)` -> outputs and alarms to arm.

Pure: time comes only from events (and from the watermark, via `fire`). A ticket's timers are
started, paused, resumed, re-targeted and stopped here; when a timer's due or a warning falls due
is decided by whoever holds the alarms (the engine's scheduler), which calls `fire` once the
watermark has passed the alarm's instant.

Event ids are deterministic: `<timer_id>/<n>:<type>`, where n counts the timer's own events, so
the same input log gives the same ids whether it is processed live or replayed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sla_core.calendar import ALWAYS_OPEN, Calendar
from sla_core.events import REPORTED_ATTRIBUTES, SlaEvent, TicketEvent
from sla_core.instants import from_us as _from_us
from sla_core.instants import to_us as _us
from sla_core.policy import Level, Policy, WarningThreshold

ANSWER_METRICS: Final = ("first_answer", "next_answer", "chat_answer", "call_answer")
RESOLUTION: Final = "resolution"
METRIC_INDEX: Final = {m: i for i, m in enumerate((*ANSWER_METRICS, RESOLUTION))}
BREACH: Final = "__due__"  # alarm kind of a due; any other kind is a warning label
DEDUP_WINDOW: Final = (
    64  # event identities remembered per ticket (duplicates arrive close together)
)


def _warning_plan(
    thresholds: tuple[WarningThreshold, ...], target_seconds: float
) -> tuple[tuple[str, float], ...]:
    """The warnings of a target in firing order: (label, business seconds elapsed). Shared by
    every timer with the same thresholds and target, which saves memory per open timer."""
    plan = []
    for warning in thresholds:
        elapsed = warning.elapsed_at(target_seconds)
        if elapsed is not None:
            plan.append((warning.label, elapsed))
    return tuple(sorted(plan, key=lambda w: w[1]))


def _answer_metric(channel: str | None, first: bool) -> str:
    if channel == "chat":
        return "chat_answer"
    if channel == "call":
        return "call_answer"
    return "first_answer" if first else "next_answer"


@dataclass(slots=True)
class Timer:
    """One SLA timer: a metric of a ticket in one cycle, counting business time toward a target."""

    ticket_id: str
    metric: str
    cycle: int
    level: str
    calendar: Calendar
    target_seconds: float
    started_at: datetime
    pauses: tuple[tuple[datetime, datetime], ...] = ()
    paused_since: datetime | None = None
    due_at: datetime | None = None
    breached: bool = False
    # warnings still to fire, in order: (label, business seconds elapsed when it fires); the
    # instant of the next one lives only in its alarm, which saves memory per open timer
    warnings: tuple[tuple[str, float], ...] = ()
    seq: int = 0
    version: int = 0  # bumped on every re-arm: alarms armed for an older version are stale

    @property
    def timer_id(self) -> str:
        return f"{self.ticket_id}:{self.metric}:{self.cycle}"

    def _pauses_until(self, at: datetime) -> tuple[tuple[datetime, datetime], ...]:
        if self.paused_since is None:
            return self.pauses
        return (*self.pauses, (self.paused_since, max(at, self.paused_since)))

    def elapsed(self, at: datetime) -> float:
        """Business seconds counted from the start to `at`, pauses left out."""
        return self.calendar.business_seconds(self.started_at, at, self._pauses_until(at))

    def compute_due(self) -> datetime:
        """The instant the target is reached, given the pauses so far (an open pause excluded)."""
        return self.calendar.due(self.started_at, self.target_seconds, self.pauses)

    def schedule(self) -> None:
        """Recompute the due and the warnings' instants (none while paused); stale alarms die."""
        self.version += 1
        self.due_at = None if self.paused_since is not None else self.compute_due()

    def next_alarm(self) -> tuple[datetime, str] | None:
        """The next instant at which the watermark must call `fire`: a warning or the due."""
        if self.paused_since is not None or self.due_at is None:
            return None
        if self.warnings:
            label, elapsed = self.warnings[0]
            return self.calendar.due(self.started_at, elapsed, self.pauses), label
        if not self.breached:
            return self.due_at, BREACH
        return None


@dataclass(slots=True)
class TicketState:
    """What the engine remembers of one ticket."""

    ticket_id: str
    attrs: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    changed_at: datetime | None = None
    level: str | None = None
    agent_answered: bool = False
    closed: bool = False
    deleted: bool = False
    cycles: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])  # by METRIC_INDEX
    running: dict[str, Timer] = field(default_factory=dict)
    last_timer: Timer | None = None
    seen: list[str] = field(default_factory=list)

    def facts(self) -> dict[str, Any]:
        """The fields rules test: the ticket's attributes plus created_at, changed_at, deleted."""
        facts = dict(self.attrs)
        facts["created_at"] = self.created_at
        facts["changed_at"] = self.changed_at
        facts["deleted"] = self.deleted
        return facts


@dataclass(slots=True)
class Step:
    """What applying one event (or firing alarms) produced."""

    outputs: list[SlaEvent] = field(default_factory=list)
    armed: list[Timer] = field(default_factory=list)  # timers whose alarms must be (re)armed
    changed: bool = False
    opened: int = 0  # timers started
    ended: int = 0  # timers that ended (fulfilled, missed or cancelled)


class _Context:
    """Builds SLA events for one ticket under one policy."""

    __slots__ = ("policy", "state", "step")

    def __init__(self, policy: Policy, state: TicketState, step: Step) -> None:
        self.policy = policy
        self.state = state
        self.step = step

    def emit(
        self,
        timer: Timer,
        type_: str,
        at: datetime,
        *,
        stopped_at: datetime | None = None,
        threshold: str | None = None,
        corrects_breach: bool = False,
        reason: str | None = None,
        ticket_deleted: bool = False,
        elapsed: float | None = None,
    ) -> None:
        timer.seq += 1
        if elapsed is None:
            elapsed = timer.elapsed(at)
        attrs = self.state.attrs
        timer_id = timer.timer_id
        data: dict[str, Any] = {
            "timer_id": timer_id,
            "ticket_id": timer.ticket_id,
            "metric": timer.metric,
            "cycle": timer.cycle,
            "level": timer.level,
            "policy_version": self.policy.version,
            "calendar": timer.calendar.name,
            "target_seconds": timer.target_seconds,
            "started_at": timer.started_at,
            "due_at": timer.due_at,
            "stopped_at": stopped_at,
            "elapsed_seconds": round(elapsed, 6),
            "remaining_seconds": round(timer.target_seconds - elapsed, 6),
            "threshold": threshold,
            "corrects_breach": corrects_breach,
            "breached": timer.breached,
            "paused": timer.paused_since is not None,
            "reason": reason,
            "ticket_deleted": ticket_deleted,
        }
        for name in REPORTED_ATTRIBUTES:
            data[name] = attrs.get(name, [] if name == "tags" else None)
        event_id = f"{timer_id}/{timer.seq}:{type_}"
        self.step.outputs.append(SlaEvent(event_id, type_, at, timer.ticket_id, data))
        self.step.changed = True

    # ---- timer lifecycle --------------------------------------------------------------------

    def level(self) -> Level | None:
        name = self.state.level
        return self.policy.levels.get(name) if name is not None else None

    def start(self, metric: str, at: datetime) -> None:
        state = self.state
        level = self.level()
        if level is None or metric in state.running:
            return
        target = level.targets.get(metric)
        if target is None:
            return
        cycle = state.cycles[METRIC_INDEX[metric]] + 1
        state.cycles[METRIC_INDEX[metric]] = cycle
        timer = Timer(
            ticket_id=state.ticket_id,
            metric=metric,
            cycle=cycle,
            level=level.name,
            calendar=level.calendar,
            target_seconds=target,
            started_at=at,
        )
        self._retarget(timer, level, at)
        state.running[metric] = timer
        state.last_timer = timer
        self.step.opened += 1
        self.emit(timer, "sla.started", at, elapsed=0.0)
        self.step.armed.append(timer)
        status = state.attrs.get("status")
        if status is not None and status in level.pause_when_status:
            self.pause(timer, at)

    def _retarget(self, timer: Timer, level: Level, at: datetime) -> None:
        timer.level = level.name
        timer.calendar = level.calendar
        timer.target_seconds = level.targets[timer.metric]
        warnings = _warning_plan(level.warnings, timer.target_seconds)
        if timer.seq and warnings:
            # a re-targeted timer does not warn for a threshold it has already passed
            now_elapsed = timer.elapsed(at)
            warnings = tuple(w for w in warnings if w[1] > now_elapsed)
        timer.warnings = warnings
        timer.schedule()

    def stop(self, timer: Timer, at: datetime) -> None:
        if timer.paused_since is not None:
            timer.pauses = (*timer.pauses, (timer.paused_since, max(at, timer.paused_since)))
            timer.paused_since = None
            timer.due_at = None  # the pause just closed moves the due
        stopped_at = max(at, timer.started_at)
        if timer.due_at is None:  # otherwise current: every change of pauses or target schedules
            timer.due_at = timer.compute_due()
        elapsed = timer.elapsed(stopped_at)
        fulfilled = stopped_at <= timer.due_at
        corrects = fulfilled and timer.breached
        if corrects:
            timer.breached = False
        self.emit(
            timer,
            "sla.fulfilled" if fulfilled else "sla.missed",
            stopped_at,
            stopped_at=stopped_at,
            corrects_breach=corrects,
            elapsed=elapsed,
        )
        self._end(timer)

    def cancel(self, timer: Timer, at: datetime, reason: str, *, deleted: bool = False) -> None:
        self.emit(
            timer,
            "sla.cancelled",
            at,
            stopped_at=max(at, timer.started_at),
            reason=reason,
            ticket_deleted=deleted,
        )
        self._end(timer)

    def _end(self, timer: Timer) -> None:
        timer.version += 1  # any armed alarm is now stale
        timer.warnings = ()
        if self.state.running.pop(timer.metric, None) is not None:
            self.step.ended += 1

    def pause(self, timer: Timer, at: datetime) -> None:
        if timer.paused_since is not None:
            return
        timer.paused_since = max(at, timer.started_at)
        timer.schedule()
        self.emit(timer, "sla.paused", at)

    def resume(self, timer: Timer, at: datetime) -> None:
        if timer.paused_since is None:
            return
        timer.pauses = (*timer.pauses, (timer.paused_since, max(at, timer.paused_since)))
        timer.paused_since = None
        timer.schedule()
        self.emit(timer, "sla.resumed", at)
        self.step.armed.append(timer)

    # ---- rules ----------------------------------------------------------------------------

    def run_rules(self, at: datetime) -> None:
        """Choose the level again; re-target, cancel or start timers when it changed."""
        state = self.state
        new = self.policy.choose_level(state.facts(), at)
        old = state.level
        if new == old:
            return
        state.level = new
        level = self.level()
        for timer in list(state.running.values()):
            if level is None or timer.metric not in level.targets:
                self.cancel(timer, at, "level_removed")
                continue
            self._retarget(timer, level, at)
            self.emit(timer, "sla.retargeted", at, reason=old)
            self.step.armed.append(timer)
        if old is None and level is not None and state.created_at is not None and not state.closed:
            # the ticket enters an SLA: count from its creation, as if the level applied then
            start = state.created_at
            if not state.agent_answered:
                self.start(_answer_metric(state.attrs.get("source"), True), start)
            self.start(RESOLUTION, start)

    def apply_status(self, at: datetime) -> None:
        level = self.level()
        status = self.state.attrs.get("status")
        pause = level is not None and status is not None and status in level.pause_when_status
        for timer in list(self.state.running.values()):
            if pause:
                self.pause(timer, at)
            else:
                self.resume(timer, at)


_SHARED_VALUES: Final = frozenset(
    {"source", "status", "priority", "department", "agent", "agent_status", "customer_group"}
)


def _merge_attrs(state: TicketState, ticket: Mapping[str, Any]) -> None:
    for key, value in ticket.items():
        if key in _SHARED_VALUES and isinstance(value, str):
            value = sys.intern(value)  # a million open tickets share a few departments
        state.attrs[sys.intern(key)] = value


def apply(state: TicketState, event: TicketEvent, policy: Policy) -> Step:
    """Apply one ticket event to the ticket's state (SPEC section 2); duplicates change nothing."""
    step = Step()
    key = event.dedup_key
    if key in state.seen:
        return step
    state.seen.append(key)
    if len(state.seen) > DEDUP_WINDOW:
        del state.seen[0]
    step.changed = True
    if state.deleted:
        return step
    at = event.time
    ctx = _Context(policy, state, step)
    _merge_attrs(state, event.ticket)
    kind = event.type
    if kind != "ticket.created" or state.created_at is not None:
        state.changed_at = at

    if kind == "ticket.created":
        if state.created_at is not None:  # a second creation of a known ticket: an update
            ctx.run_rules(at)
            ctx.apply_status(at)
            return step
        state.created_at = at
        state.changed_at = at
        state.level = policy.choose_level(state.facts(), at)
        ctx.start(_answer_metric(state.attrs.get("source"), True), at)
        ctx.start(RESOLUTION, at)
    elif kind == "ticket.customer_replied":
        if state.created_at is None:
            state.created_at = at
            state.level = policy.choose_level(state.facts(), at)
            ctx.start(RESOLUTION, at)
        if not any(metric in state.running for metric in ANSWER_METRICS):
            ctx.start(_answer_metric(event.channel, not state.agent_answered), at)
    elif kind == "ticket.answered":
        if not event.automated:
            state.agent_answered = True
            for metric in ANSWER_METRICS:
                timer = state.running.get(metric)
                if timer is not None:
                    ctx.stop(timer, at)
    elif kind == "ticket.updated":
        ctx.run_rules(at)
        ctx.apply_status(at)
    elif kind == "ticket.closed":
        state.closed = True
        for timer in list(state.running.values()):
            ctx.stop(timer, at)
    elif kind == "ticket.reopened":
        state.closed = False
        ctx.run_rules(at)
        ctx.start("next_answer", at)
        ctx.start(RESOLUTION, at)
        ctx.apply_status(at)
    elif kind == "ticket.deleted":
        state.deleted = True
        if state.running:
            for timer in list(state.running.values()):
                ctx.cancel(timer, at, "ticket_deleted", deleted=True)
        elif state.last_timer is not None:
            # a deletion notice: the ended timers leave the reports too
            ctx.cancel(state.last_timer, at, "ticket_deleted", deleted=True)
        state.attrs = {}
        state.last_timer = None
    return step


def fire(state: TicketState, timer: Timer, kind: str, at: datetime, policy: Policy) -> Step:
    """The watermark has passed the alarm of `timer` armed for `at`: emit its warning or breach."""
    step = Step()
    if state.running.get(timer.metric) is not timer or timer.paused_since is not None:
        return step
    ctx = _Context(policy, state, step)
    if kind == BREACH:
        if timer.breached or timer.due_at is None:
            return step
        timer.breached = True
        ctx.emit(timer, "sla.breached", timer.due_at, elapsed=timer.target_seconds)
        return step
    if timer.warnings and timer.warnings[0][0] == kind:
        label, elapsed = timer.warnings[0]
        timer.warnings = timer.warnings[1:]
        ctx.emit(timer, "sla.warning", at, threshold=label, elapsed=elapsed)
    return step


# ---- snapshots: plain data, so a partition's state can move between replicas ----------------


def timer_to_dict(timer: Timer) -> dict[str, Any]:
    """A JSON-ready form of a timer (times as epoch microseconds)."""
    return {
        "m": timer.metric,
        "c": timer.cycle,
        "l": timer.level,
        "k": timer.calendar.name,
        "t": timer.target_seconds,
        "s": _us(timer.started_at),
        "p": [[_us(a), _us(b)] for a, b in timer.pauses],
        "ps": _us(timer.paused_since) if timer.paused_since is not None else None,
        "b": timer.breached,
        "w": timer.warnings,
        "du": _us(timer.due_at) if timer.due_at is not None else None,
        "q": timer.seq,
    }


# restored timers share their warning plans as new ones do (see _warning_plan)
_warning_plans: dict[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]] = {}


def timer_from_dict(
    ticket_id: str,
    raw: Mapping[str, Any],
    policy: Policy,
    instant: Callable[[int], datetime] = _from_us,
) -> Timer:
    """Rebuild a timer; its calendar is looked up by name in the policy now in force. `instant`
    turns stored microseconds into datetimes (a ticket's restore shares equal ones)."""
    paused, due, pauses = raw["ps"], raw["du"], raw["p"]
    plan = tuple((label, e) for label, e in raw["w"])
    return Timer(  # positional, in field order: restore builds millions of these
        ticket_id,
        raw["m"],
        raw["c"],
        raw["l"],
        policy.calendars.get(raw["k"], ALWAYS_OPEN),
        raw["t"],
        instant(raw["s"]),
        tuple((instant(a), instant(b)) for a, b in pauses) if pauses else (),
        instant(paused) if paused is not None else None,
        instant(due) if due is not None else None,
        raw["b"],
        _warning_plans.setdefault(plan, plan),
        raw["q"],
    )


def state_to_dict(state: TicketState) -> dict[str, Any]:
    """A JSON-ready form of a ticket's state."""
    last = state.last_timer
    return {
        "a": state.attrs,
        "cr": _us(state.created_at) if state.created_at is not None else None,
        "ch": _us(state.changed_at) if state.changed_at is not None else None,
        "l": state.level,
        "aa": state.agent_answered,
        "cl": state.closed,
        "d": state.deleted,
        "cy": state.cycles,
        "r": [timer_to_dict(t) for t in state.running.values()],
        "lt": timer_to_dict(last)
        if last is not None and last not in state.running.values()
        else None,
        "lr": last.metric if last is not None and last in state.running.values() else None,
        "sn": state.seen,
    }


def state_from_dict(ticket_id: str, raw: Mapping[str, Any], policy: Policy) -> TicketState:
    """Rebuild a ticket's state from `state_to_dict` output."""
    seen: dict[int, datetime] = {}  # a ticket's timers mostly share their instants

    def instant(us: int) -> datetime:
        found = seen.get(us)
        if found is None:
            found = seen[us] = _from_us(us)
        return found

    running = {t["m"]: timer_from_dict(ticket_id, t, policy, instant) for t in raw["r"]}
    last = running.get(raw["lr"]) if raw["lr"] is not None else None
    if raw["lt"] is not None:
        last = timer_from_dict(ticket_id, raw["lt"], policy, instant)
    return TicketState(
        ticket_id=ticket_id,
        attrs=raw["a"],
        created_at=instant(raw["cr"]) if raw["cr"] is not None else None,
        changed_at=instant(raw["ch"]) if raw["ch"] is not None else None,
        level=raw["l"],
        agent_answered=raw["aa"],
        closed=raw["cl"],
        deleted=raw["d"],
        cycles=list(raw["cy"]),
        running=running,
        last_timer=last,
        seen=list(raw["sn"]),
    )
