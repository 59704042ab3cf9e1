"""Business seconds left on a running timer, now.

The log shows `sla_seconds` for a running timer as the business seconds between now and its
due, under the timer's calendar (negative once over). Calendars come from the policy file
(SLA_POLICY_FILE, loaded with `sla_core.policy.load_policy`); without one, or for a calendar the
policy does not know, and for "24/7", the figure is wall-clock seconds. A timer whose zone came
from the ticket (SPEC section 8) is counted under its calendar read in that zone.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Protocol

WALL_CLOCK = "24/7"


class BusinessCalendar(Protocol):
    @property
    def timezone(self) -> str: ...

    def business_seconds(self, start: datetime, end: datetime) -> float: ...

    def in_zone(self, zone: str) -> BusinessCalendar: ...


class SecondsLeft:
    """Seconds left until due, by calendar name; whole seconds, rounded down."""

    def __init__(self, calendars: Mapping[str, BusinessCalendar] | None = None) -> None:
        self._calendars = dict(calendars or {})

    def uses_wall_clock(self, calendar: str) -> bool:
        return calendar == WALL_CLOCK or calendar not in self._calendars

    def calendars(self) -> list[str]:
        """The names of the calendars known (besides the wall clock)."""
        return sorted(self._calendars)

    def of_timer(
        self,
        *,
        static: bool,
        remaining_seconds: float,
        calendar: str,
        due_at: datetime | None,
        now: datetime,
        timezone: str | None = None,
    ) -> int:
        """A timer's `sla_seconds`: its stored figure when ended or paused (`static`, as in the
        table's `sla_static`), else counted from `now` to its due."""
        if static or due_at is None:
            return math.floor(remaining_seconds)
        return self(calendar, now, due_at, timezone)

    def __call__(
        self, calendar: str, now: datetime, due_at: datetime, timezone: str | None = None
    ) -> int:
        """Seconds from `now` to `due_at` under `calendar` read in `timezone` (the timer's zone;
        None: the calendar's own)."""
        if self.uses_wall_clock(calendar):
            return math.floor((due_at - now).total_seconds())
        business = self._calendars[calendar]
        if timezone is not None and timezone != business.timezone:
            with contextlib.suppress(ValueError):  # CalendarError: a zone unknown here
                business = business.in_zone(timezone)
        if due_at >= now:
            return math.floor(business.business_seconds(now, due_at))
        return math.floor(-business.business_seconds(due_at, now))


def from_policy_file(path: Path | None) -> SecondsLeft:
    """The calendars of the policy at `path` (None: wall clock only); raises if it is invalid."""
    if path is None:
        return SecondsLeft()
    from sla_core.policy import load_policy  # the domain package; imported only when configured

    policy = load_policy(path)
    return SecondsLeft(policy.calendars)
