"""Durations as the policy writes them: `30s`, `2m`, `4h`, `1h30m`.

A duration is one or more of hours, minutes and seconds, in that order, each at most once, with
no spaces: `4h`, `90m`, `1h30m`, `1h0m15s`, `1.5h`. Days are left out on purpose: in business
time a "day" could mean 24 hours or one working day, and the policy should not have to guess.
Where the policy accepts a duration it also accepts a plain number of seconds (`90`).
"""

from __future__ import annotations

import math
import re

# Shared with schemas/policy.schema.json ($defs/duration); a test keeps the two identical.
DURATION_PATTERN = (
    r"^(?=[0-9])([0-9]+(?:\.[0-9]+)?h)?([0-9]+(?:\.[0-9]+)?m)?([0-9]+(?:\.[0-9]+)?s)?$"
)
_DURATION = re.compile(DURATION_PATTERN)
_UNIT_SECONDS = (3600.0, 60.0, 1.0)


def parse_duration(text: str) -> float:
    """Return the seconds a duration string like `1h30m` stands for.

    Raises ValueError("'4 hours' is not a duration") for anything else, a number included.
    """
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration")
    return sum(
        float(part[:-1]) * unit
        for part, unit in zip(match.groups(), _UNIT_SECONDS, strict=True)
        if part is not None
    )


def duration_seconds(value: object) -> float:
    """Return the seconds of a policy duration: a duration string or a finite number of seconds.

    Raises ValueError naming the value when it is neither (booleans are not numbers here).
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a duration")
        return float(value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f"{value!r} is not a duration")


def format_duration(seconds: float) -> str:
    """Render seconds as the shortest duration string `parse_duration` reads back: 5400 -> `1h30m`.

    Hours do not roll over into days; fractions of a second are kept to milliseconds; negative
    durations get a leading `-` (which `parse_duration` does not accept).
    """
    if seconds < 0:
        return "-" + format_duration(-seconds)
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if millis or not parts:
        whole, frac = divmod(millis, 1000)
        parts.append(f"{whole}.{frac:03d}".rstrip("0").rstrip(".") + "s" if frac else f"{whole}s")
    return "".join(parts)
