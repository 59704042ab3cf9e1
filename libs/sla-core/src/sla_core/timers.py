"""The per-ticket SLA state machine: `apply(state, event, policy)` -> outputs and alarms to arm.

Pure: time comes only from events (and from the watermark, via `fire`). A ticket's timers are
started, paused, resumed, re-targeted and stopped here; when a timer's due or a warning falls due
is decided by whoever holds the alarms (the engine's alarm heap, `sla_core.partition.alarms`), which
calls `fire` once the watermark has passed the alarm's instant.

Event ids are deterministic: `<timer_id>/<n>:<type>`, where n counts the timer's own events, so
the same input log gives the same ids whether it is processed live or replayed.

A timer's time zone (SPEC section 8) is chosen when it starts: its level's calendar resolved
against the ticket's attributes (`Calendar.resolve`). The timer keeps that zone for life: a
later change of the ticket's attribute, a pause and resume, a re-target to another level whose
calendar also takes the zone from the ticket, and a snapshot and restore all leave it as it was.
Only a re-target onto a calendar with a fixed zone takes that zone (the zone is then the
calendar's, not the ticket's), and a timer that moves from a fixed-zone calendar onto one that
takes the zone from the ticket resolves it at that moment. A fallback to the default zone is
counted on the `Step` (`zone_fallbacks`), for the engine's metrics.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from msgspec import UNSET

from sla_core import ownership, periodic
from sla_core._weekly import US
from sla_core.conditions import Verdict, judge, next_flip_us
from sla_core.events import Metric, OwnershipSegment, SlaEvent, SlaEventData, SlaType, TicketEvent
from sla_core.facts import TicketFacts
from sla_core.instants import from_us as _from_us
from sla_core.instants import to_us as _us
from sla_core.levels import Level
from sla_core.policy import Policy
from sla_core.state_form import state_from_dict, state_to_dict, timer_from_dict, timer_to_dict
from sla_core.ticket_state import (
    ANSWER_METRICS,
    BREACH,
    DEDUP_WINDOW,
    METRIC_INDEX,
    RESOLUTION,
    Step,
    TicketState,
    Timer,
    _warning_plan,
    forget_at_us,
)

__all__ = [
    "ANSWER_METRICS",
    "BREACH",
    "DEDUP_WINDOW",
    "METRIC_INDEX",
    "RESOLUTION",
    "Step",
    "TicketState",
    "Timer",
    "apply",
    "fire",
    "forget_at_us",
    "reevaluate",
    "retarget",
    "state_from_dict",
    "state_to_dict",
    "timer_from_dict",
    "timer_to_dict",
]

# the events that carry the timer's ownership segments; the breach ones its holder at the due
_OWNED_TYPES: Final = frozenset({"sla.breached", "sla.fulfilled", "sla.missed", "sla.cancelled"})
_BREACH_TYPES: Final = frozenset({"sla.breached", "sla.missed"})


def _answer_metric(channel: str | None, first: bool) -> Metric:
    if channel == "chat":
        return "chat_answer"
    if channel == "call":
        return "call_answer"
    return "first_answer" if first else "next_answer"


class _Context:
    """Builds SLA events for one ticket under one policy."""

    __slots__ = ("_facts", "_verdict", "changed", "flipping", "policy", "state", "step")

    def __init__(
        self, policy: Policy, state: TicketState, step: Step, changed: frozenset[str] = frozenset()
    ) -> None:
        self.policy = policy
        self.state = state
        self.step = step
        self.changed = changed  # the fields the event being applied changed
        self.flipping = False  # judging again because time alone changed an answer
        self._facts: TicketFacts | None = None
        self._verdict: tuple[Level, Verdict] | None = None

    def verdict(self, level: Level, at: datetime) -> Verdict:
        """The level's conditions on this event's facts (judged once per event and level)."""
        cached = self._verdict
        if cached is not None and cached[0] is level:
            return cached[1]
        verdict = judge(level.conditions, self.facts(), at)
        self._verdict = (level, verdict)
        return verdict

    def facts(self) -> TicketFacts:
        """The ticket's facts for this event (its attributes do not change while it applies)."""
        if self._facts is None:
            self._facts = self.state.facts(self.changed)
        return self._facts

    @property
    def running(self) -> dict[str, Timer]:
        return self.state.running

    def emit(
        self,
        timer: Timer,
        type_: SlaType,
        at: datetime,
        at_us: int,
        *,
        stopped_at: datetime | None = None,
        threshold: str | None = None,
        corrects_breach: bool = False,
        reason: str | None = None,
        ticket_deleted: bool = False,
        elapsed_us: int | None = None,
    ) -> None:
        """Append the SLA event `type_` of `timer` at `at` (`at_us` the same instant)."""
        timer.seq += 1
        if elapsed_us is None:
            elapsed_us = timer.elapsed_us(at_us)
        started, due = timer.started_us, timer.due_us
        started_at = at if started == at_us else _from_us(started)
        get = self.state.attrs.get
        ticket_id = timer.ticket_id
        segments: Any = UNSET
        breach_agent: Any = UNSET
        breach_team: Any = UNSET
        if type_ in _OWNED_TYPES and not ticket_deleted:
            agent, team = current = (get("agent"), get("team"))
            if timer.owners:
                found = ownership.segments(timer, at_us, current, elapsed_us)
                segments = ownership.as_event(found)
            else:  # one holder from the start (the common case): the timer's own figures
                ended_at = at if at_us >= started else started_at
                segments = [
                    OwnershipSegment(
                        agent=agent,
                        team=team,
                        started_at=started_at,
                        ended_at=ended_at,
                        business_seconds=elapsed_us / US,
                    )
                ]
            if type_ in _BREACH_TYPES:
                breach_us = at_us if due is None else min(due, at_us)
                breach_agent, breach_team = ownership.holder_at(timer, breach_us, current)
        timer_id = f"{ticket_id}:{timer.metric}:{timer.cycle}"
        event_id = f"{timer_id}/{timer.seq}:{type_}"
        data = SlaEventData(
            timer_id=timer_id,
            ticket_id=ticket_id,
            metric=timer.metric,
            cycle=timer.cycle,
            level=timer.level,
            policy_version=timer.policy_version,
            calendar=timer.calendar.name,
            timezone=timer.calendar.timezone,
            timezone_source=timer.zone_source,
            target_seconds=timer.target_seconds,
            started_at=started_at,
            due_at=None if due is None else at if due == at_us else _from_us(due),
            stopped_at=stopped_at,
            # whole microseconds: exact, and what round(seconds, 6) would give, for less
            elapsed_seconds=elapsed_us / US,
            remaining_seconds=(timer.target_us - elapsed_us) / US,
            threshold=threshold,
            corrects_breach=corrects_breach,
            breached=timer.breached,
            paused=timer.paused_us is not None,
            reason=reason,
            ticket_deleted=ticket_deleted,
            segments=segments,
            breach_agent=breach_agent,
            breach_team=breach_team,
            # events.REPORTED_ATTRIBUTES, spelled out (a loop over them costs more per event)
            department=get("department"),
            agent=get("agent"),
            requester=get("requester"),
            priority=get("priority"),
            customer_group=get("customer_group"),
            source=get("source"),
            tags=get("tags", []),
            team=get("team"),
        )
        self.step.outputs.append(
            SlaEvent(id=event_id, type=type_, time=at, ticket_id=ticket_id, data=data)
        )
        self.step.changed = True

    # ---- timer lifecycle --------------------------------------------------------------------
    # Each takes the instant twice: `at` (the aware datetime events carry) and `at_us` (the same
    # instant in epoch microseconds, which the timers and the calendar compute with).

    def level(self) -> Level | None:
        name = self.state.level
        return self.policy.levels.get(name) if name is not None else None

    def start(self, metric: Metric, at: datetime, at_us: int) -> None:
        state = self.state
        level = self.level()
        if level is None or metric in state.running:
            return
        target = level.targets.get(metric)
        if target is None:
            return
        conditions = level.conditions
        judged = conditions.judged and self.verdict(level, at)
        if judged and judged.cancel:
            return  # no timer starts while the level's cancel condition holds
        index = METRIC_INDEX[metric]
        cycle = state.cycles[index] = state.cycles[index] + 1
        choice = level.calendar.resolve(state.attrs)  # a fixed zone: one attribute test
        calendar = choice.calendar
        timer = Timer(state.ticket_id, metric, cycle, level.name, calendar, target, at_us)
        if choice.source != "calendar":
            timer.zone_source = choice.source
            if choice.fallback:
                self.step.zone_fallbacks += (calendar.name,)
        self._target(timer, level, at_us)
        state.running[metric] = timer
        state.last_timer = timer
        self.step.opened += 1
        self.emit(timer, "sla.started", at, at_us, elapsed_us=0)
        self.step.armed.append(timer)
        if judged and judged.pause:
            self.pause(timer, at, at_us)

    def _retarget(self, timer: Timer, level: Level, at_us: int) -> None:
        """Move a running timer onto `level`: its calendar (in the zone the timer started
        with, see the module docstring), target and warnings."""
        calendar = level.calendar
        if calendar.zone_from is None:
            timer.calendar, timer.zone_source = calendar, "calendar"
        elif timer.zone_source != "calendar":
            timer.calendar = calendar.in_zone(timer.calendar.timezone)
        else:
            choice = calendar.resolve(self.state.attrs)
            timer.calendar, timer.zone_source = choice.calendar, choice.source
            if choice.fallback:
                self.step.zone_fallbacks += (calendar.name,)
        self._target(timer, level, at_us)

    def _target(self, timer: Timer, level: Level, at_us: int) -> None:
        timer.level = level.name
        timer.policy_version = self.policy.version
        timer.target_seconds = level.targets[timer.metric]
        warnings = _warning_plan(level.warnings, timer.target_seconds)
        if timer.seq and warnings:
            # a re-targeted timer does not warn for a threshold it has already passed
            now_elapsed = timer.elapsed(at_us)
            warnings = tuple(w for w in warnings if w[1] > now_elapsed)
        timer.warnings = warnings
        timer.schedule()

    def stop(self, timer: Timer, at: datetime, at_us: int, *, miss: bool = False) -> None:
        """End the timer at `at`: fulfilled if at or before its due, else missed (`miss`:
        missed whatever its due)."""
        if timer.paused_us is not None:
            timer.pauses = (*timer.pauses, (timer.paused_us, max(at_us, timer.paused_us)))
            timer.paused_us = None
            timer.due_us = None  # the pause just closed moves the due
        if at_us < timer.started_us:
            at, at_us = _from_us(timer.started_us), timer.started_us
        if timer.due_us is None:  # otherwise current: every change of pauses or target schedules
            timer.due_us = timer.compute_due()
        elapsed = timer.elapsed_us(at_us)
        fulfilled = at_us <= timer.due_us and not miss
        corrects = fulfilled and timer.breached
        if corrects:
            timer.breached = False
        self.emit(
            timer,
            "sla.fulfilled" if fulfilled else "sla.missed",
            at,
            at_us,
            stopped_at=at,
            corrects_breach=corrects,
            elapsed_us=elapsed,
        )
        self._end(timer)

    def cancel(
        self, timer: Timer, at: datetime, at_us: int, reason: str, *, deleted: bool = False
    ) -> None:
        started = timer.started_us
        self.emit(
            timer,
            "sla.cancelled",
            at,
            at_us,
            stopped_at=at if at_us >= started else _from_us(started),
            reason=reason,
            ticket_deleted=deleted,
        )
        self._end(timer)

    def _end(self, timer: Timer) -> None:
        timer.version += 1  # any armed alarm is now stale
        timer.warnings = ()
        if self.state.running.pop(timer.metric, None) is not None:
            self.step.ended += 1

    def pause(self, timer: Timer, at: datetime, at_us: int) -> None:
        if timer.paused_us is not None:
            return
        timer.paused_us = max(at_us, timer.started_us)
        timer.schedule()
        self.emit(timer, "sla.paused", at, at_us)

    def resume(self, timer: Timer, at: datetime, at_us: int) -> None:
        if timer.paused_us is None:
            return
        timer.pauses = (*timer.pauses, (timer.paused_us, max(at_us, timer.paused_us)))
        timer.paused_us = None
        timer.schedule()
        self.emit(timer, "sla.resumed", at, at_us)
        self.step.armed.append(timer)

    # ---- rules ----------------------------------------------------------------------------

    def run_rules(self, at: datetime, at_us: int, *, force: bool = False) -> None:
        """Choose the level again; re-target, cancel or start timers when it changed (`force`:
        re-target even onto the same level, whose targets may differ in another version)."""
        state = self.state
        new = self.policy.choose_level(state.facts(), at)
        old = state.level
        if new == old and not force:
            return
        state.level = new
        level = self.level()
        for timer in list(state.running.values()):
            if level is None or timer.metric not in level.targets:
                self.cancel(timer, at, at_us, "level_change")
                continue
            self._retarget(timer, level, at_us)
            self.emit(timer, "sla.retargeted", at, at_us, reason=old)
            self.step.armed.append(timer)
        if old is None and level is not None and state.created_at is not None and not state.closed:
            # the ticket enters an SLA: count from its creation, as if the level applied then
            start = state.created_at
            start_us = _us(start)
            if not state.agent_answered:
                self.start(_answer_metric(state.attrs.get("source"), True), start, start_us)
            self.start(RESOLUTION, start, start_us)

    def apply_conditions(self, at: datetime, at_us: int, *, always: bool = False) -> None:
        """Judge the level's conditions (SPEC section 8; precedence in sla_core.conditions):
        cancel the running timers, or reset them to new cycles, then pause or resume them.
        `always`: judge them even if nothing they test moved (the conditions did)."""
        level = self.level()
        state = self.state
        if level is None or not state.running:
            return
        conditions = level.conditions
        moved = always or self.changed or not conditions.quiet
        if not moved and not (self.flipping and conditions.timed):
            return  # nothing the conditions test moved (not even time): their verdict stands
        verdict = self.verdict(level, at)
        if verdict.cancel:
            for timer in list(state.running.values()):
                self.cancel(timer, at, at_us, "cancel_condition")
            return
        if verdict.reset:
            # timers started at this very instant (by this event) have nothing to reset
            older = [t for t in state.running.values() if t.started_us < at_us]
            for timer in older:
                self.cancel(timer, at, at_us, "reset")
            for timer in older:
                self.start(timer.metric, at, at_us)
        for timer in list(state.running.values()):
            if verdict.pause:
                self.pause(timer, at, at_us)
            else:
                self.resume(timer, at, at_us)

    def close(self, at: datetime, at_us: int) -> None:
        """ticket.closed: the answer timers end as the level's close_before_answer says, the
        periodic update is cancelled, the rest stop (the close is the resolution)."""
        level = self.level()
        choice = level.conditions.close_before_answer if level is not None else "fulfil"
        if self.policy.has_periodic:
            periodic.on_close(self, at, at_us)
        for timer in list(self.state.running.values()):
            if timer.metric in ANSWER_METRICS and choice == "cancel":
                self.cancel(timer, at, at_us, "closed")
            else:
                self.stop(
                    timer, at, at_us, miss=timer.metric in ANSWER_METRICS and choice == "miss"
                )


_SHARED_VALUES: Final = frozenset(
    {"source", "status", "priority", "department", "agent", "agent_status", "customer_group"}
)


def _merge_attrs(state: TicketState, ticket: Mapping[str, Any]) -> frozenset[str]:
    """Merge the event's attributes into the ticket's; the fields whose value changed."""
    attrs = state.attrs
    changed: list[str] = []
    for key, value in ticket.items():
        old = attrs.get(key)
        if old != value:
            changed.append(key)
            if key == "custom_fields":
                changed.extend(_changed_custom(old, value))
        if key in _SHARED_VALUES and isinstance(value, str):
            value = sys.intern(value)  # a million open tickets share a few departments
        attrs[sys.intern(key)] = value
    return frozenset(changed)


def _changed_custom(old: Any, new: Any) -> list[str]:
    old = old if isinstance(old, Mapping) else {}
    new = new if isinstance(new, Mapping) else {}
    return [f"custom_fields.{k}" for k in old.keys() | new.keys() if old.get(k) != new.get(k)]


def apply(
    state: TicketState,
    event: TicketEvent,
    policy: Policy,
    at_us: int | None = None,
    dedup_window: int = DEDUP_WINDOW,
) -> Step:
    """Apply one ticket event to the ticket's state (SPEC section 2); duplicates change nothing.
    `at_us` is the event's time in epoch microseconds, when the caller has it already. A repeat
    of one of the ticket's last `dedup_window` event identities is a duplicate."""
    step = Step()
    key = event.dedup_key
    seen = state.seen
    if key in seen:
        return step
    seen.append(key)
    if len(seen) > dedup_window:
        del seen[0]
    step.changed = True
    if state.deleted:
        return step
    at = event.time
    if at_us is None:
        at_us = _us(at)
    ticket = event.ticket
    changed: frozenset[str] = frozenset()
    if ticket:
        if state.running and ("agent" in ticket or "team" in ticket):
            old = ownership.holder(state.attrs)
            changed = _merge_attrs(state, ticket)
            new = ownership.holder(state.attrs)
            if new != old:  # the running timers change hands before the event acts on them
                ownership.hand_over(state.running.values(), old, new, at_us)
        else:
            changed = _merge_attrs(state, ticket)
    ctx = _Context(policy, state, step, changed)
    kind = event.type
    if kind != "ticket.created" or state.created_at is not None:
        state.changed_at = at

    if kind == "ticket.created":
        if state.created_at is not None:  # a second creation of a known ticket: an update
            ctx.run_rules(at, at_us)
        else:
            state.created_at = at
            state.changed_at = at
            state.level = policy.choose_level(ctx.facts(), at)
            ctx.start(_answer_metric(state.attrs.get("source"), True), at, at_us)
            ctx.start(RESOLUTION, at, at_us)
    elif kind == "ticket.customer_replied":
        if state.created_at is not None and (changed or policy.rules_test_changed_at):
            ctx.run_rules(at, at_us)  # the level is chosen again whenever what it tests moved
        if state.created_at is None:
            state.created_at = at
            state.level = policy.choose_level(ctx.facts(), at)
            ctx.start(RESOLUTION, at, at_us)
        if not any(metric in state.running for metric in ANSWER_METRICS):
            ctx.start(_answer_metric(event.channel, not state.agent_answered), at, at_us)
        if policy.has_periodic:
            periodic.on_customer_reply(ctx, _periodic_mode(ctx), at, at_us)
    elif kind == "ticket.answered":
        if state.created_at is not None and (changed or policy.rules_test_changed_at):
            ctx.run_rules(at, at_us)
        if not event.automated:
            state.agent_answered = True
            running = state.running
            for metric in ANSWER_METRICS:
                timer = running.get(metric)
                if timer is not None:
                    ctx.stop(timer, at, at_us)
            if policy.has_periodic:
                periodic.on_agent_answer(ctx, _periodic_mode(ctx), at, at_us)
    elif kind == "ticket.updated":
        ctx.run_rules(at, at_us)
    elif kind == "ticket.closed":
        state.closed = True
        state.ended_us = at_us
        ctx.close(at, at_us)
    elif kind == "ticket.reopened":
        state.closed = False
        state.ended_us = None
        ctx.run_rules(at, at_us)
        ctx.start("next_answer", at, at_us)
        ctx.start(RESOLUTION, at, at_us)
    elif kind == "ticket.deleted":
        state.deleted = True
        state.ended_us = at_us
        if state.running:
            for timer in list(state.running.values()):
                ctx.cancel(timer, at, at_us, "deleted", deleted=True)
        elif state.last_timer is not None:
            # a deletion notice: the ended timers leave the reports too
            ctx.cancel(state.last_timer, at, at_us, "deleted", deleted=True)
        state.attrs = {}
        state.last_timer = None
        state.flip_us = None
        return step
    ctx.apply_conditions(at, at_us)
    _plan_flip(ctx, at_us)
    return step


def reevaluate(state: TicketState, at_us: int, policy: Policy) -> Step:
    """Time alone changed a rule's or condition's answer at `at_us` (the ticket's `flip_us`):
    choose the level again and judge its conditions there, as an event would (SPEC section 8)."""
    step = Step()
    if state.deleted:
        return step
    step.changed = True
    ctx = _Context(policy, state, step)
    ctx.flipping = True
    at = _from_us(at_us)
    ctx.run_rules(at, at_us)
    ctx.apply_conditions(at, at_us)
    _plan_flip(ctx, at_us)
    return step


def retarget(state: TicketState, at_us: int, policy: Policy) -> Step:
    """The ticket has moved to `policy` (a version loaded with retarget_open, SPEC section 8):
    at `at_us` its level is chosen again under it, its running timers re-target under it from
    their original start (`sla.retargeted`, reason: the previous level; a metric the new level
    has no target for is cancelled, reason level_change) and its conditions are judged."""
    step = Step()
    if state.deleted or state.closed or not state.running:
        return step
    step.changed = True
    ctx = _Context(policy, state, step)
    at = _from_us(at_us)
    ctx.run_rules(at, at_us, force=True)
    ctx.apply_conditions(at, at_us, always=True)
    _plan_flip(ctx, at_us)
    return step


def _plan_flip(ctx: _Context, at_us: int) -> None:
    """Set the next instant after `at_us` at which time alone changes an answer, if any."""
    tests = ctx.policy.time_tests
    ctx.state.flip_us = next_flip_us(tests, ctx.facts(), at_us) if tests else None


def _periodic_mode(ctx: _Context) -> str:
    level = ctx.level()
    return level.conditions.periodic_mode if level is not None else "between_agent_updates"


def fire(state: TicketState, timer: Timer, kind: str, at_us: int, policy: Policy) -> Step:
    """The watermark has passed the alarm of `timer` armed for `at_us`: emit its warning or
    breach."""
    step = Step()
    if state.running.get(timer.metric) is not timer or timer.paused_us is not None:
        return step
    ctx = _Context(policy, state, step)
    if kind == BREACH:
        due = timer.due_us
        if timer.breached or due is None:
            return step
        timer.breached = True
        ctx.emit(timer, "sla.breached", _from_us(due), due, elapsed_us=timer.target_us)
        return step
    if timer.warnings and timer.warnings[0][0] == kind:
        label, elapsed = timer.warnings[0]
        timer.warnings = timer.warnings[1:]
        warned_us = round(elapsed * US)
        ctx.emit(
            timer, "sla.warning", _from_us(at_us), at_us, threshold=label, elapsed_us=warned_us
        )
    return step


# ---- snapshots: plain data, so a partition's state can move between replicas ----------------
