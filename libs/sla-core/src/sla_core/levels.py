"""SLA levels: the targets a ticket on a level must meet, its warnings and its conditions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from sla_core.calendar import Calendar
from sla_core.conditions import NO_CONDITIONS, LevelConditions
from sla_core.durations import duration_seconds, format_duration

_SHARE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)%$")


@dataclass(frozen=True)
class WarningThreshold:
    """A warning before a breach: at a share of the target elapsed, or some time before due."""

    label: str  # as written: "75%", "30m"
    share: float | None = None  # 0.75 for "75%"
    before_seconds: float | None = None  # 1800.0 for "30m"

    @classmethod
    def parse(cls, value: object) -> WarningThreshold:
        """Read a warning as written in the policy: `75%`, a duration, or seconds before due.

        Raises ValueError when it is none of these, or a share not strictly between 0% and 100%,
        or a duration that is not positive.
        """
        if isinstance(value, str) and (match := _SHARE.fullmatch(value)):
            share = float(match[1]) / 100
            if not 0 < share < 1:
                raise ValueError(f"{value!r}: a share must be more than 0% and less than 100%")
            return cls(label=value, share=share)
        try:
            seconds = duration_seconds(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a warning: a share like 75% or a time before due like 30m"
            ) from None
        if seconds <= 0:
            raise ValueError(f"{value!r}: a warning before due must be longer than 0")
        label = value if isinstance(value, str) else format_duration(seconds)
        return cls(label=label, before_seconds=seconds)

    def elapsed_at(self, target_seconds: float) -> float | None:
        """Business seconds elapsed at which the warning fires for a timer with this target.

        None when that would be at or before the start, or at or after the due (no warning then).
        """
        if self.share is not None:
            elapsed = target_seconds * self.share
        elif self.before_seconds is not None:
            elapsed = target_seconds - self.before_seconds
        else:
            return None
        return elapsed if 0 < elapsed < target_seconds else None


@dataclass(frozen=True)
class Level:
    """An SLA level: targets in business seconds per metric under its calendar."""

    name: str
    calendar: Calendar
    # metric -> business seconds; a metric absent has no timer
    targets: Mapping[str, float] = field(hash=False)
    warnings: tuple[WarningThreshold, ...] = ()
    pause_when_status: frozenset[str] = frozenset()
    conditions: LevelConditions = NO_CONDITIONS  # pause, reset, cancel; close and periodic
