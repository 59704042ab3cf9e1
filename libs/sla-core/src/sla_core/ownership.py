"""Who held a ticket while a timer ran (SPEC section 11): the timer's ownership segments.

A segment runs from one change of the ticket's `agent` or `team` to the next. A timer keeps its
changes compactly, as `Timer.owners`: a tuple of `(start_us, agent, team)`, one per holder, in
order. The empty tuple (almost every timer) means one segment from the timer's start, held by
whoever holds the ticket now: a timer whose holder never changed costs nothing, neither in memory
nor per event. The first change writes both the holder it replaces and the new one.

The business seconds of a segment are counted under the timer's calendar, from its start to the
next segment's (or to the instant asked for), with the timer's pauses left out: the seconds of a
timer's segments add up to its `elapsed_seconds`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from sla_core.events import OwnershipSegment
from sla_core.instants import from_us

if TYPE_CHECKING:
    from sla_core.timers import Timer

Holder = tuple[str | None, str | None]  # (agent, team)
Owners = tuple[tuple[int, str | None, str | None], ...]  # (start_us, agent, team) per holder
HOLDER_FIELDS: Final = frozenset({"agent", "team"})


class Segment(NamedTuple):
    """One holder's part of a timer: [start_us, end_us) and the business microseconds in it."""

    start_us: int
    end_us: int
    agent: str | None
    team: str | None
    business_us: int


def holder(attrs: Mapping[str, Any]) -> Holder:
    """The ticket's holder as its attributes say: (agent, team)."""
    return attrs.get("agent"), attrs.get("team")


def hand_over(timers: Iterable[Timer], old: Holder, new: Holder, at_us: int) -> None:
    """The ticket passed from `old` to `new` at `at_us`: each running timer starts a segment.

    A change at or before a timer's start replaces its first holder (the timer never ran in the
    old holder's hands); the caller calls this only when `agent` or `team` changed."""
    agent, team = new
    for timer in timers:
        owners = timer.owners or ((timer.started_us, *old),)
        if at_us <= owners[-1][0]:
            owners = (*owners[:-1], (owners[-1][0], agent, team))
            if len(owners) == 1:
                owners = ()  # one holder, the new one: the ticket's holder from now on
        else:
            owners = (*owners, (at_us, agent, team))
        timer.owners = owners


def holder_at(timer: Timer, at_us: int, current: Holder) -> Holder:
    """Who held the ticket, for `timer`, at `at_us` (`current`: the ticket's holder now)."""
    found: Holder = current
    for start_us, agent, team in timer.owners:
        if start_us > at_us:
            break
        found = (agent, team)
    return found


def segments(timer: Timer, until_us: int, current: Holder, elapsed_us: int) -> list[Segment]:
    """The timer's segments from its start to `until_us`, with business microseconds under its
    calendar and its pauses (the open one too) left out. `elapsed_us` is the timer's business
    time to `until_us`, already known to the caller: a single segment needs no calendar work."""
    owners = timer.owners
    start = timer.started_us
    end = max(until_us, start)
    if not owners:
        return [Segment(start, end, *current, elapsed_us)]
    pauses = timer.pauses
    if timer.paused_us is not None:
        pauses = (*pauses, (timer.paused_us, max(end, timer.paused_us)))
    business = timer.calendar.business_us
    out: list[Segment] = []
    for i, (seg_start, agent, team) in enumerate(owners):
        if seg_start >= end and out:
            break
        seg_end = owners[i + 1][0] if i + 1 < len(owners) else end
        seg_end = min(seg_end, end)
        out.append(Segment(seg_start, seg_end, agent, team, business(seg_start, seg_end, pauses)))
    return out


def as_event(found: Iterable[Segment]) -> list[OwnershipSegment]:
    """The segments as SLA events carry them (`SlaEventData.segments`)."""
    return [
        OwnershipSegment(
            agent=s.agent,
            team=s.team,
            started_at=from_us(s.start_us),
            ended_at=from_us(s.end_us),
            business_seconds=s.business_us / 1_000_000,
        )
        for s in found
    ]


def owners_to_raw(owners: Owners) -> list[list[Any]]:
    """The snapshot form of `Timer.owners` (only timers with more than one holder carry it)."""
    return [list(o) for o in owners]


def owners_from_raw(raw: Iterable[Iterable[Any]] | None) -> Owners:
    """`owners_to_raw` read back; None (a row without it) is the one-holder timer."""
    if not raw:
        return ()
    return tuple((int(s), a, t) for s, a, t in raw)
