"""A ticket's timers under one policy, one event at a time: start, stop, cancel, pause, resume,
re-target, and the SLA event each of them emits (`Lifecycle.emit`). The state machine's event
dispatch and its rules and conditions (`sla_core.timers`) drive it; it decides nothing about
which event does what.

Each method takes the instant twice: `at` (the aware datetime events carry) and `at_us` (the
same instant in epoch microseconds, which the timers and the calendar compute with).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from msgspec import UNSET

from sla_core import ownership
from sla_core._weekly import US
from sla_core.conditions import Verdict, judge
from sla_core.events import Metric, OwnershipSegment, SlaEvent, SlaEventData, SlaType
from sla_core.facts import TicketFacts
from sla_core.instants import from_us as _from_us
from sla_core.levels import Level
from sla_core.policy import Policy
from sla_core.ticket_state import METRIC_INDEX, Step, TicketState, Timer, _warning_plan

# the events that carry the timer's ownership segments; the breach ones its holder at the due
_OWNED_TYPES: Final = frozenset({"sla.breached", "sla.fulfilled", "sla.missed", "sla.cancelled"})
_BREACH_TYPES: Final = frozenset({"sla.breached", "sla.missed"})


class Lifecycle:
    """A ticket's timers under one policy, for the event being applied: builds its SLA events."""

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
