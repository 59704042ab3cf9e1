"""Weekly open hours as written in a policy: parsing days and intervals, and refusing overlaps.

An interval "HH:MM[:SS]-HH:MM[:SS]" becomes (start, end) seconds after local midnight; an end
earlier than the start runs into the next day (end + 86_400), and "24:00" ends a day. These
helpers serve both the weekly `hours` and the per-date `overrides` of a calendar.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sla_core._weekly import DAY_SECONDS, Interval, WeekHours

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OPEN_ALL_WEEK: WeekHours = (((0, DAY_SECONDS),),) * 7

_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


class CalendarError(ValueError):
    """A calendar that cannot be built, or a question it cannot answer; names the calendar.

    `where` is the node path, relative to the calendar's spec, of the value at fault when the
    error knows it (e.g. ("overrides", "2026-12-23", 0)); () when it does not.
    """

    def __init__(self, message: str, where: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.where = where


def format_seconds(seconds: int) -> str:
    h, rest = divmod(seconds % DAY_SECONDS if seconds != DAY_SECONDS else seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}" if s else f"{h:02d}:{m:02d}"


def format_interval(span: Interval) -> str:
    return f"{format_seconds(span[0])}-{format_seconds(span[1])}"


def check_overlaps(name: str, hours: WeekHours) -> None:
    """Refuse intervals that are empty, too long or overlap, across midnight and the week's end."""
    week = 7 * DAY_SECONDS
    flat: list[tuple[int, int, int, Interval]] = []
    for day, spans in enumerate(hours):
        for start, end in spans:
            if not (0 <= start < DAY_SECONDS and start < end < start + DAY_SECONDS + 1):
                raise CalendarError(
                    f"calendar {name!r}: invalid interval {format_interval((start, end))!r} "
                    f"on {DAY_NAMES[day]}"
                )
            flat.append((day * DAY_SECONDS + start, day * DAY_SECONDS + end, day, (start, end)))
    flat.sort()
    for i, (_, end, day, span) in enumerate(flat):
        if i + 1 < len(flat):
            nxt_start, _, nxt_day, nxt_span = flat[i + 1]
        elif len(flat) > 1 or end > week:
            nxt_start, _, nxt_day, nxt_span = flat[0]
            nxt_start += week
        else:
            break
        if end > nxt_start:
            raise CalendarError(
                f"calendar {name!r}: interval {format_interval(span)!r} on {DAY_NAMES[day]} "
                f"overlaps {format_interval(nxt_span)!r} on {DAY_NAMES[nxt_day]}"
            )


def _parse_time(name: str, text: str, raw: object) -> int:
    m = _TIME.fullmatch(text.strip())
    if m is None:
        raise CalendarError(f"calendar {name!r}: cannot parse interval {raw!r}")
    h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
    if mi > 59 or s > 59 or h > 24 or (h == 24 and (mi or s)):
        raise CalendarError(f"calendar {name!r}: cannot parse interval {raw!r} (no such time)")
    return h * 3600 + mi * 60 + s


def parse_interval(name: str, raw: object) -> Interval:
    parts = raw.split("-") if isinstance(raw, str) else []
    if len(parts) != 2:
        raise CalendarError(f"calendar {name!r}: cannot parse interval {raw!r}")
    start, end = _parse_time(name, parts[0], raw), _parse_time(name, parts[1], raw)
    if start == DAY_SECONDS:
        raise CalendarError(f"calendar {name!r}: interval {raw!r} starts at 24:00")
    if start == end:
        raise CalendarError(f"calendar {name!r}: interval {raw!r} is empty (start equals end)")
    # An end before the start is an overnight interval by definition: it ends on the next day.
    return (start, end if end > start else end + DAY_SECONDS)


def _parse_days(name: str, key: object) -> list[int]:
    text = str(key).strip().lower()
    if text == "daily":
        return list(range(7))
    days: list[int] = []
    for part in text.split(","):
        ends = [p.strip() for p in part.split("-")]
        if len(ends) > 2 or any(p not in DAY_NAMES for p in ends):
            raise CalendarError(f"calendar {name!r}: unknown day name {key!r}")
        first, last = DAY_NAMES.index(ends[0]), DAY_NAMES.index(ends[-1])
        days.extend((first + k) % 7 for k in range((last - first) % 7 + 1))  # "fri-mon" wraps
    return days


def parse_hours(name: str, hours: object) -> WeekHours:
    if hours is None:
        return OPEN_ALL_WEEK
    if not isinstance(hours, Mapping):
        raise CalendarError(f"calendar {name!r}: hours must be a mapping of days to intervals")
    per_day: list[list[Interval]] = [[] for _ in range(7)]
    for key, intervals in hours.items():
        days = _parse_days(name, key)
        listed = [intervals] if isinstance(intervals, str) else intervals
        if not isinstance(listed, list | tuple):
            raise CalendarError(f"calendar {name!r}: hours for {key!r} must be a list")
        for raw in listed:
            span = parse_interval(name, raw)
            for day in days:
                per_day[day].append(span)
    return tuple(tuple(sorted(spans)) for spans in per_day)
