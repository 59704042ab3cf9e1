"""Event-time progress: the whole watermark rule (SPEC section 4), in one place.

A partition's watermark is the latest event time consumed there; while the partition has
caught up with its end (and replayed past what a previous run had emitted), it is the wall
clock less the grace, if that is later. An event time further ahead of the wall clock than the
tolerance is clamped to the wall clock, so a producer with a wrong clock cannot drag the
watermark into the future; one further ahead than the rejection bound is dead-lettered
(`intake`). Alarms fire when the watermark passes them (`PartitionEngine.advance`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sla_core.events import TicketEvent
from sla_core.instants import to_us

ONE_US = timedelta(microseconds=1)


def latest_event_us(wall_clock: datetime, tolerance: timedelta) -> int:
    """The latest event time accepted as it is: later ones are clamped to the wall clock."""
    return to_us(wall_clock) + tolerance // ONE_US


def clamped(event: TicketEvent, wall_clock: datetime) -> TicketEvent:
    """The event with its time set to the wall clock (its time was too far ahead)."""
    return TicketEvent(
        event.id,
        event.source,
        event.type,
        wall_clock,
        event.ticket_id,
        event.ticket,
        event.channel,
        event.automated,
    )


def caught_up(next_offset: int, end_offset: int, suppress_until: int) -> bool:
    """Whether a partition has consumed to its end and past what was emitted before a restart:
    only then may its watermark follow the wall clock."""
    return next_offset >= end_offset and next_offset >= suppress_until


def live_watermark_us(max_event_us: int, now_us: int, grace_us: int) -> int:
    """A caught-up partition's watermark: its latest event time, or the wall clock less the
    grace if that is later."""
    return max(max_event_us, now_us - grace_us)


def lag_seconds(now_us: int, watermark_us: int) -> float:
    """Wall clock minus the watermark (0 before any event), for the lag gauge."""
    return max(0.0, (now_us - watermark_us) / 1e6) if watermark_us else 0.0
