"""Per-date overrides of a calendar's weekly hours (SPEC section 8): reading and checking them.

In a policy, `overrides` maps a local date "YYYY-MM-DD" (a `date`, as YAML 1.1 loaders give an
unquoted one, is accepted too) or an inclusive range "YYYY-MM-DD..YYYY-MM-DD" to a list of
intervals written as in the weekly hours: "22:00-06:00" runs into the next date and belongs to the
date it starts on, "24:00" ends a day, and `[]` closes the date. The intervals replace the week's
intervals that start on that date, and an override wins over a holiday on the same date.

A calendar keeps its overrides as `Overrides`: one entry per date, sorted, ranges spelt out.

What is refused, and why:

* a date outside the years FIRST_YEAR..LAST_YEAR (1970-2200): such a date is a typo, and the
  bound keeps a mistaken range from spelling out millions of dates;
* a range whose end is before its start, and two keys that cover the same date;
* intervals of one date that overlap, and an interval that overlaps the hours of the date before
  or after it (the week's hours, or that date's own override). Weekly hours obey the same rule
  (`hours.check_overlaps`), and because of it an override never changes how long the dates next
  to it are open, which the closed-form sums of `sla_core._weekly` rely on. Holidays do not
  excuse an overlap: a neighbour's hours are compared as written, as the weekly check does.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import date, datetime, timedelta

from sla_core._weekly import DAY_SECONDS, Interval, WeekHours
from sla_core.hours import DAY_NAMES, CalendarError, format_interval, parse_interval

# One entry per local date, sorted by date: the intervals that replace the week's on it.
Overrides = tuple[tuple[date, tuple[Interval, ...]], ...]

FIRST_YEAR = 1970
LAST_YEAR = 2200

_RANGE = ".."


def parse_overrides(name: str, raw: object) -> tuple[Overrides, dict[str, str | date]]:
    """Read the `overrides` mapping of a calendar spec. Returns the overrides and, for each date
    (ISO text), the key that named it as written, so that errors found later can point at it.

    Raises CalendarError with `where` set to the key or interval at fault; the overlap checks are
    left to `check_overrides`."""
    if raw is None:
        return (), {}
    if not isinstance(raw, Mapping):
        raise CalendarError(
            f"calendar {name!r}: overrides must be a mapping of dates to intervals", ("overrides",)
        )
    found: dict[date, tuple[Interval, ...]] = {}
    keys: dict[str, str | date] = {}
    for key, value in raw.items():
        where: tuple[str | int, ...] = ("overrides", key if isinstance(key, str) else str(key))
        first, last = _parse_key(name, key, where)
        listed = [value] if isinstance(value, str) else value
        if not isinstance(listed, list | tuple):
            raise CalendarError(
                f"calendar {name!r}: override {_text(key)!r} must be a list of intervals "
                "([] closes the date)",
                where,
            )
        spans = []
        for index, interval in enumerate(listed):
            try:
                spans.append(parse_interval(name, interval))
            except CalendarError as exc:
                raise CalendarError(str(exc), (*where, index)) from None
        day = first
        while day <= last:
            if day in found:
                raise CalendarError(
                    f"calendar {name!r}: override keys {_text(keys[day.isoformat()])!r} and "
                    f"{_text(key)!r} both cover {day.isoformat()}",
                    where,
                )
            found[day] = tuple(spans)
            keys[day.isoformat()] = key
            day += timedelta(days=1)
    return tuple(sorted(found.items())), keys


def _text(key: object) -> str:
    return key.isoformat() if isinstance(key, date) else str(key)


def _parse_key(name: str, key: object, where: tuple[str | int, ...]) -> tuple[date, date]:
    """The first and last date a key names: a date, "YYYY-MM-DD" or "YYYY-MM-DD..YYYY-MM-DD"."""
    if isinstance(key, date) and not isinstance(key, datetime):
        first = last = key
    else:
        text = str(key)
        parts = [p.strip() for p in text.split(_RANGE)] if _RANGE in text else [text.strip()]
        try:
            if len(parts) > 2:
                raise ValueError(text)
            first, last = date.fromisoformat(parts[0]), date.fromisoformat(parts[-1])
        except ValueError:
            raise CalendarError(
                f"calendar {name!r}: cannot parse override date {text!r} "
                "(a date like 2026-12-24 or a range like 2026-12-27..2026-12-30)",
                where,
            ) from None
        if last < first:
            raise CalendarError(
                f"calendar {name!r}: override range {text!r} ends before it starts", where
            )
    for day in (first, last):
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise CalendarError(
                f"calendar {name!r}: override date {_text(key)!r} is outside the years "
                f"{FIRST_YEAR}-{LAST_YEAR}",
                where,
            )
    return first, last


def check_overrides(name: str, hours: WeekHours, overrides: Overrides) -> None:
    """Refuse overrides a calendar cannot use: a date twice or outside FIRST_YEAR..LAST_YEAR,
    an invalid interval, intervals of a date that overlap each other, or an interval that
    overlaps the hours of the date before or after (see the module docstring). The error's
    `where` is ("overrides", ISO date, index of the interval) of the interval at fault."""
    by_date: dict[date, tuple[Interval, ...]] = {}
    for day, spans in overrides:
        if day in by_date:
            raise CalendarError(f"calendar {name!r}: override {day.isoformat()} given twice")
        by_date[day] = spans
    for day, spans in overrides:
        where: tuple[str | int, ...] = ("overrides", day.isoformat())
        label = f"calendar {name!r}: override {day.isoformat()}"
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise CalendarError(f"{label} is outside the years {FIRST_YEAR}-{LAST_YEAR}", where)
        for index, (start, end) in enumerate(spans):
            if not (0 <= start < DAY_SECONDS and start < end <= start + DAY_SECONDS):
                raise CalendarError(
                    f"{label}: invalid interval {format_interval((start, end))!r}", (*where, index)
                )
        ordered = sorted((span, index) for index, span in enumerate(spans))
        for (span, index), (other, _) in itertools.pairwise(ordered):
            if span[1] > other[0]:
                raise CalendarError(
                    f"{label}: interval {format_interval(span)!r} overlaps "
                    f"{format_interval(other)!r}",
                    (*where, index),
                )
        # Only adjacent dates can meet: an interval ends less than two days after its midnight.
        after = day + timedelta(days=1)
        neighbour = by_date.get(after, hours[after.weekday()])
        _check_neighbour(label, where, spans, neighbour, after, after in by_date)
        before = day - timedelta(days=1)
        if before not in by_date:  # an override before is checked as that date's `after`
            _check_neighbour(label, where, spans, hours[before.weekday()], before, False)


def _check_neighbour(
    label: str,
    where: tuple[str | int, ...],
    spans: tuple[Interval, ...],
    neighbour: tuple[Interval, ...],
    other_day: date,
    overridden: bool,
) -> None:
    """Refuse an overlap between an override's intervals and those of the date before or after,
    both read on one wall clock (the later date's seconds shifted by a day)."""
    whose = "override" if overridden else "weekly hours"
    on = f"on {other_day.isoformat()} ({DAY_NAMES[other_day.weekday()]}, {whose})"
    later = other_day > date.fromisoformat(str(where[1]))
    for index, span in enumerate(spans):
        for other in neighbour:
            if later:
                clash = span[1] > other[0] + DAY_SECONDS
            else:
                clash = other[1] > span[0] + DAY_SECONDS
            if clash:
                raise CalendarError(
                    f"{label}: interval {format_interval(span)!r} overlaps "
                    f"{format_interval(other)!r} {on}",
                    (*where, index),
                )
