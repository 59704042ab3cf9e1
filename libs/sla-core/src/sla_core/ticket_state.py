"""What the engine remembers of a ticket: its timers and its state, and what applying an event
produced (`Step`). Plain values: the state machine that changes them is `sla_core.timers`, their
snapshot form is `sla_core.state_form`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from sla_core import ownership, periodic
from sla_core._weekly import US
from sla_core.calendar import Calendar
from sla_core.events import Metric, SlaEvent
from sla_core.facts import TicketFacts
from sla_core.levels import WarningThreshold
from sla_core.zones import ZoneSource

if TYPE_CHECKING:
    from sla_core.policy_history import Binding

ANSWER_METRICS: Final[tuple[Metric, ...]] = (
    "first_answer",
    "next_answer",
    "chat_answer",
    "call_answer",
)
RESOLUTION: Final = "resolution"
METRIC_INDEX: Final = {m: i for i, m in enumerate((*ANSWER_METRICS, RESOLUTION, periodic.PERIODIC))}
BREACH: Final = "__due__"  # alarm kind of a due; any other kind is a warning label
DEDUP_WINDOW: Final = (
    64  # event identities remembered per ticket (duplicates arrive close together)
)


def _warning_plan(
    thresholds: tuple[WarningThreshold, ...], target_seconds: float
) -> tuple[tuple[str, float], ...]:
    """The warnings of a target in firing order: (label, business seconds elapsed). Shared by
    every timer with the same thresholds and target, which saves memory per open timer."""
    if not thresholds:
        return ()
    return _shared_plan(thresholds, target_seconds)


@lru_cache(maxsize=4096)
def _shared_plan(
    thresholds: tuple[WarningThreshold, ...], target_seconds: float
) -> tuple[tuple[str, float], ...]:
    plan = []
    for warning in thresholds:
        elapsed = warning.elapsed_at(target_seconds)
        if elapsed is not None:
            plan.append((warning.label, elapsed))
    return tuple(sorted(plan, key=lambda w: w[1]))


@dataclass(slots=True, eq=False)
class Timer:
    """One SLA timer: a metric of a ticket in one cycle, counting business time toward a target.

    Instants are epoch microseconds (`sla_core.instants`): the calendar works on them, they are
    what snapshots store, and they cost less memory and arithmetic than datetimes. Timers
    compare by identity.
    """

    ticket_id: str
    metric: Metric
    cycle: int
    level: str
    calendar: Calendar
    target_seconds: float
    started_us: int
    pauses: tuple[tuple[int, int], ...] = ()
    paused_us: int | None = None  # the start of the open pause, if any
    due_us: int | None = None
    breached: bool = False
    # warnings still to fire, in order: (label, business seconds elapsed when it fires); the
    # instant of the next one lives only in its alarm, which saves memory per open timer
    warnings: tuple[tuple[str, float], ...] = ()
    seq: int = 0
    version: int = 0  # bumped on every re-arm: alarms armed for an older version are stale
    # why `calendar` is read in its zone (`ZoneChoice.source`); the zone is calendar.timezone
    zone_source: ZoneSource = "calendar"
    # its holders when the ticket's agent or team changed while it ran (`sla_core.ownership`);
    # empty: one holder from the start, the ticket's
    owners: ownership.Owners = ()
    # the policy version that set its target (at its start or its last re-target): what its
    # SLA events name, whatever versions were loaded since (SPEC section 9)
    policy_version: str = ""

    @property
    def target_us(self) -> int:
        """The target in whole microseconds, as the calendar counts it."""
        return round(self.target_seconds * US)

    def elapsed_us(self, at_us: int) -> int:
        """Business microseconds counted from the start to `at_us`, pauses left out."""
        pauses = self.pauses
        if self.paused_us is not None:
            pauses = (*pauses, (self.paused_us, max(at_us, self.paused_us)))
        return self.calendar.business_us(self.started_us, at_us, pauses)

    def elapsed(self, at_us: int) -> float:
        """Business seconds counted from the start to `at_us`, pauses left out."""
        return self.elapsed_us(at_us) / US

    def compute_due(self) -> int:
        """The instant the target is reached, given the pauses so far (an open pause excluded)."""
        return self.calendar.due_us(self.started_us, self.target_us, self.pauses)

    def schedule(self) -> None:
        """Recompute the due and the warnings' instants (none while paused); stale alarms die."""
        self.version += 1
        self.due_us = None if self.paused_us is not None else self.compute_due()

    def next_alarm(self) -> tuple[int, str] | None:
        """The next instant at which the watermark must call `fire`: a warning or the due."""
        if self.paused_us is not None or self.due_us is None:
            return None
        if self.warnings:
            label, elapsed = self.warnings[0]
            return self.calendar.due_us(self.started_us, round(elapsed * US), self.pauses), label
        if not self.breached:
            return self.due_us, BREACH
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
    cycles: list[int] = field(default_factory=lambda: [0] * len(METRIC_INDEX))  # by METRIC_INDEX
    running: dict[str, Timer] = field(default_factory=dict)
    last_timer: Timer | None = None
    seen: list[str] = field(default_factory=list)
    ended_us: int | None = None  # when it was closed or deleted (None while open)
    flip_us: int | None = None  # the next instant time alone changes a rule's or condition's answer
    # the policy versions it is bound to (`sla_core.policy_history`); None outside an engine
    binding: Binding | None = None

    def facts(self, changed: frozenset[str] = frozenset()) -> TicketFacts:
        """The fields rules test: the ticket's attributes plus created_at, changed_at, deleted,
        and the fields the event being applied `changed`."""
        return TicketFacts(self.attrs, self.created_at, self.changed_at, self.deleted, changed)


@dataclass(slots=True)
class Step:
    """What applying one event (or firing alarms) produced."""

    outputs: list[SlaEvent] = field(default_factory=list)
    armed: list[Timer] = field(default_factory=list)  # timers whose alarms must be (re)armed
    changed: bool = False
    opened: int = 0  # timers started
    ended: int = 0  # timers that ended (fulfilled, missed or cancelled)
    # the calendar name of each timer that fell back to its default zone (SPEC 8): a tuple, so
    # a step that has none (almost every one) builds nothing
    zone_fallbacks: tuple[str, ...] = ()


def forget_at_us(state: TicketState, reopen_window_us: int) -> int | None:
    """When the engine may forget the ticket (SPEC section 10): its reopen window after it was
    closed or deleted, once no timer of it runs; None while it is open or a timer runs."""
    if state.ended_us is None or state.running:
        return None
    return state.ended_us + reopen_window_us
