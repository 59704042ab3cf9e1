"""Business seconds left on a running timer, now.

The log shows `sla_seconds` for a running timer as the business seconds between now and its
due, under the timer's calendar (negative once over). Calendars come from the policy file
(SLA_POLICY_FILE, loaded with `sla_core.policy.load_policy`); without one, or for a calendar the
policy does not know, and for "24/7", the figure is wall-clock seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Protocol

WALL_CLOCK = "24/7"


class BusinessCalendar(Protocol):
    def business_seconds(self, start: datetime, end: datetime) -> float: ...


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
    ) -> int:
        """A timer's `sla_seconds`: its stored figure when ended or paused (`static`, as in the
        table's `sla_static`), else counted from `now` to its due."""
        if static or due_at is None:
            return math.floor(remaining_seconds)
        return self(calendar, now, due_at)

    def __call__(self, calendar: str, now: datetime, due_at: datetime) -> int:
        if self.uses_wall_clock(calendar):
            return math.floor((due_at - now).total_seconds())
        business = self._calendars[calendar]
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
