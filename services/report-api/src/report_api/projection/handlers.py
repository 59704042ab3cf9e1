"""The projection's state changes as pure functions: a timer row folded over its SLA events.

A timer's `state` is one of

- `running`   started, not over due yet;
- `breached`  still running, past due (the compliance report counts it as missed);
- `fulfilled` stopped in time, or a breach corrected by `sla.fulfilled` with corrects_breach;
- `missed`    stopped after due;
- `cancelled` stopped without a verdict (reason other than a deleted ticket); the row keeps
  the event's `reason` as `cancel_reason` (reset, cancel_condition, closed, level_change).

Ended states are final, with one exception: `sla.fulfilled` with `corrects_breach` turns a missed
timer into a fulfilled one. Every event carries the timer's full description, so a timer whose
`sla.started` was never seen is still projected from whatever event arrives first.

Deleted tickets are not a timer state: `fold_batch` removes all of such a ticket's timers and
remembers the ticket, and events that arrive for it later are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from msgspec import UNSET, UnsetType

from report_api.projection.events import event_key
from sla_core.events import SlaEvent

STATES = ("running", "breached", "fulfilled", "missed", "cancelled")
ENDED_STATES = frozenset({"fulfilled", "missed", "cancelled"})


class Outcome(StrEnum):
    """What one event did; the projection counts events by type and outcome."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"  # its (source, id) was applied to this timer before
    STALE = "stale"  # the timer had ended and the event cannot change that
    DELETED = "deleted"  # the ticket is deleted: the event deletes it or is dropped
    INVALID = "invalid"  # not an SLA event (counted by the runner)


class TimerRow(NamedTuple):
    """One row of `sla_timers`: a timer as of the last event applied to it.

    A named tuple rather than a frozen dataclass: the fold builds one per applied event and the
    store sends them column-wise, and a tuple is about three times cheaper to build and already
    holds its values in COLUMNS order."""

    timer_id: str
    ticket_id: str
    metric: str
    cycle: int
    level: str
    calendar: str
    policy_version: str
    target_seconds: float
    started_at: datetime
    due_at: datetime | None
    stopped_at: datetime | None
    elapsed_seconds: float
    remaining_seconds: float
    state: str
    breached: bool
    paused: bool
    corrected: bool
    department: str | None
    agent: str | None
    requester: str | None
    priority: str | None
    customer_group: str | None
    source: str | None
    timezone: str | None  # None: projected from events of an engine that did not say
    timezone_source: str | None
    cancel_reason: str | None  # why a cancelled timer was cancelled; None in any other state
    team: str | None
    breach_agent: str | None  # the holder at the due, on breached and missed rows (SPEC 11)
    breach_team: str | None
    last_event_at: datetime
    last_emitted_at: datetime | None
    event_keys: tuple[int, ...]


COLUMNS: tuple[str, ...] = TimerRow._fields
BREACH_STATES = frozenset({"breached", "missed"})


class SegmentRow(NamedTuple):
    """One row of `sla_segments`: one holder's part of a timer (SPEC section 11)."""

    timer_id: str
    n: int
    ticket_id: str
    agent: str | None
    team: str | None
    started_at: datetime
    ended_at: datetime
    business_seconds: float


SEGMENT_COLUMNS: tuple[str, ...] = SegmentRow._fields


def _segment_rows(event: SlaEvent) -> tuple[SegmentRow, ...] | None:
    """The event's segments as rows; None when it carries none (they stay as they were)."""
    segments = event.data.segments
    if isinstance(segments, UnsetType):
        return None
    data = event.data
    return tuple(
        SegmentRow(
            data.timer_id,
            n,
            data.ticket_id,
            s.agent,
            s.team,
            s.started_at,
            s.ended_at,
            s.business_seconds,
        )
        for n, s in enumerate(segments, 1)
    )


def _breach_holder(
    row: TimerRow | None, state: str, event: SlaEvent
) -> tuple[str | None, str | None]:
    """Who held the ticket at the due of a breached or missed timer: as the event says, else as
    an earlier event said, else (an engine from before SPEC 11) the ticket's holder now."""
    if state not in BREACH_STATES:
        return None, None
    data = event.data
    agent, team = data.breach_agent, data.breach_team
    if not isinstance(agent, UnsetType) and not isinstance(team, UnsetType):
        return agent, team
    if row is not None and row.state in BREACH_STATES:
        return row.breach_agent, row.breach_team
    return data.agent, data.team


def _next_state(current: str | None, event: SlaEvent) -> str:
    """The state after `event` for a timer that has not ended (`current` None: first seen)."""
    match event.type:
        case "sla.fulfilled":
            return "fulfilled"
        case "sla.missed":
            return "missed"
        case "sla.cancelled":
            return "cancelled"
        case "sla.breached":
            return "breached"
    breached = event.data.breached
    if breached is not UNSET:
        # The event states the verdict so far, e.g. a retarget that moved due past now.
        return "breached" if breached else "running"
    return current or "running"


def _paused(current: bool, event: SlaEvent) -> bool:
    if event.type == "sla.paused":
        return True
    if event.type == "sla.resumed" or event.type in {"sla.fulfilled", "sla.missed"}:
        return False
    paused = event.data.paused
    return current if paused is UNSET else paused


def evolve(row: TimerRow | None, event: SlaEvent) -> tuple[TimerRow | None, Outcome]:
    """Apply one event of a ticket that is not deleted to its timer's row (None: unseen timer).

    Returns the new row and APPLIED, or the row unchanged and DUPLICATE or STALE. The caller
    handles `ticket_deleted` cancellations before calling this."""
    data = event.data
    key = event_key(event)
    if row is not None:
        if key in row.event_keys:
            return row, Outcome.DUPLICATE
        if row.state in ENDED_STATES:
            correction = (
                event.type == "sla.fulfilled" and data.corrects_breach and row.state == "missed"
            )
            if not correction:
                return row, Outcome.STALE
    current_state = None if row is None else row.state
    state = _next_state(current_state, event)
    ended = state in ENDED_STATES
    previous_keys = () if row is None else row.event_keys
    emitted_at = data.emitted_at
    breach_agent, breach_team = _breach_holder(row, state, event)
    # positional, in COLUMNS order: a third of the cost of building it by keywords
    new = TimerRow._make(
        (
            data.timer_id,
            data.ticket_id,
            data.metric,
            data.cycle,
            data.level,
            data.calendar,
            data.policy_version,
            data.target_seconds,
            data.started_at,
            data.due_at,
            (data.stopped_at or event.time) if ended else None,  # stopped_at
            data.elapsed_seconds,
            data.remaining_seconds,
            state,
            # breached
            state in {"breached", "missed"}
            or (row is not None and row.breached)
            or data.breached is True,
            _paused(False if row is None else row.paused, event),  # paused
            data.corrects_breach or (row is not None and row.corrected),  # corrected
            data.department,
            data.agent,
            data.requester,
            data.priority,
            data.customer_group,
            data.source,
            data.timezone,
            data.timezone_source,
            data.reason if state == "cancelled" else None,  # cancel_reason
            data.team,
            breach_agent,
            breach_team,
            event.time,  # last_event_at
            None if emitted_at is UNSET else emitted_at,  # last_emitted_at
            (*previous_keys, key),  # event_keys
        )
    )
    return new, Outcome.APPLIED


@dataclass
class BatchResult:
    """The net effect of one batch on the projection, computed without touching the database.

    `before` holds the rows as they were read (None: not stored); `after` the rows to write
    (None: delete). Only timers whose row changed appear in `after`."""

    before: dict[str, TimerRow | None]
    after: dict[str, TimerRow | None]
    deleted_tickets: dict[str, tuple[datetime, str]]  # ticket -> (time, event id), new ones only
    outcomes: list[tuple[str, Outcome]]  # (event type, outcome) per event, in order
    # the segments of timers whose applied events carried them: they replace the stored ones
    segments: dict[str, tuple[SegmentRow, ...]] = field(default_factory=dict)


def fold_batch(
    events: Iterable[SlaEvent],
    stored: Mapping[str, TimerRow],
    deleted: Iterable[str],
) -> BatchResult:
    """Fold a batch of events (in partition order) over the stored rows of their timers.

    `stored` must hold every stored row of the batch's timers and, for tickets the batch deletes,
    every stored row of those tickets; `deleted` the batch's tickets already marked deleted."""
    rows: dict[str, TimerRow | None] = dict(stored)
    before: dict[str, TimerRow | None] = {}
    changed: set[str] = set()
    gone = set(deleted)
    new_deletions: dict[str, tuple[datetime, str]] = {}
    outcomes: list[tuple[str, Outcome]] = []
    segments: dict[str, tuple[SegmentRow, ...]] = {}
    for event in events:
        data = event.data
        ticket_id = data.ticket_id
        if ticket_id in gone:
            outcomes.append((event.type, Outcome.DELETED))
            continue
        if event.type == "sla.cancelled" and data.ticket_deleted:
            gone.add(ticket_id)
            new_deletions[ticket_id] = (event.time, event.id)
            for timer_id, row in list(rows.items()):
                if row is not None and row.ticket_id == ticket_id:
                    before.setdefault(timer_id, stored.get(timer_id))
                    rows[timer_id] = None
                    changed.add(timer_id)
                    segments.pop(timer_id, None)
            outcomes.append((event.type, Outcome.DELETED))
            continue
        row = rows.get(data.timer_id)
        new, outcome = evolve(row, event)
        outcomes.append((event.type, outcome))
        if outcome is Outcome.APPLIED:
            before.setdefault(data.timer_id, stored.get(data.timer_id))
            rows[data.timer_id] = new
            changed.add(data.timer_id)
            found = _segment_rows(event)
            if found is not None:
                segments[data.timer_id] = found
    after = {timer_id: rows[timer_id] for timer_id in changed}
    # A timer first seen and deleted within the batch was never stored: nothing to write.
    after = {t: r for t, r in after.items() if r is not None or before.get(t) is not None}
    before = {t: before.get(t) for t in after}
    return BatchResult(before, after, new_deletions, outcomes, segments)
