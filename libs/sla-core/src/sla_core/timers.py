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

from sla_core import ownership, periodic
from sla_core._weekly import US
from sla_core.conditions import next_flip_us
from sla_core.events import Metric, TicketEvent
from sla_core.instants import from_us as _from_us
from sla_core.instants import to_us as _us
from sla_core.lifecycle import Lifecycle
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


def _answer_metric(channel: str | None, first: bool) -> Metric:
    if channel == "chat":
        return "chat_answer"
    if channel == "call":
        return "call_answer"
    return "first_answer" if first else "next_answer"


class _Context(Lifecycle):
    """The lifecycle of a ticket's timers, plus its rules and conditions, for one event."""

    __slots__ = ()

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
