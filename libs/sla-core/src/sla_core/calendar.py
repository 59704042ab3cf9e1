"""Business calendars: open hours in a local time zone minus holidays, and business-time maths.

A calendar answers, for instants given as aware datetimes (any offset): how many business seconds
lie between two instants (`business_seconds`), when a target of business seconds is reached
(`due`), and whether an instant is open. It reads no clock and does no I/O; holidays come from the
`holidays` package (computed per year, on first use) and from explicit dates.

Semantics (SPEC section 4). Open hours are local wall-clock intervals, so a 00:00-24:00 day with a
DST change lasts 23 or 25 hours. How wall times that happen twice or never are resolved, and how
holidays meet overnight intervals, is documented in `sla_core._weekly`, which does the arithmetic.
Results are exact to the microsecond: durations are returned as float seconds of an integer number
of microseconds, and targets are rounded to the nearest microsecond.

Spec format of `build_calendar` (one entry of `calendars:` in the policy file)::

    timezone: Europe/Oslo                 # IANA name; default UTC
    hours:                                # omitted: open all week (zone and holidays still apply)
      mon-fri: ["09:00-17:00"]            # days: mon..sun, ranges "mon-fri", lists "mon,wed", daily
      sat: ["10:00-14:00", "22:00-06:00"] # "22:00-06:00" spans midnight and belongs to Saturday
    holidays: {country: "NO", subdivision: null, dates: ["2026-12-24"]}
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_pkg

from sla_core._weekly import DAY_SECONDS, US, Interval, Timeline, WeekHours
from sla_core.instants import from_us, to_us

__all__ = ["ALWAYS_OPEN", "Calendar", "CalendarError", "build_calendar"]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OPEN_ALL_WEEK: WeekHours = (((0, DAY_SECONDS),),) * 7

_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


class CalendarError(ValueError):
    """A calendar that cannot be built, or a question it cannot answer; names the calendar."""


@dataclass(frozen=True)
class Calendar:
    """Weekly open hours (wall-clock intervals in `timezone`) minus holidays; immutable.

    Build it with `build_calendar` from a policy spec; constructing it directly validates the
    same things (zone, overlaps, holiday country) and raises CalendarError.
    """

    name: str
    timezone: str = "UTC"
    hours: WeekHours = OPEN_ALL_WEEK
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    holiday_dates: frozenset[date] = frozenset()
    _timeline: Timeline = field(init=False, repr=False, compare=False)
    _always_open: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(
                f"calendar {self.name!r}: unknown time zone {self.timezone!r}"
            ) from exc
        if len(self.hours) != 7:
            raise CalendarError(f"calendar {self.name!r}: hours must list 7 weekdays")
        _check_overlaps(self.name, self.hours)
        if self.holiday_country is None and self.holiday_subdivision is not None:
            raise CalendarError(
                f"calendar {self.name!r}: holiday subdivision {self.holiday_subdivision!r} "
                "needs a country"
            )
        if self.holiday_country is not None:
            try:
                holidays_pkg.country_holidays(self.holiday_country, subdiv=self.holiday_subdivision)
            except NotImplementedError as exc:
                raise CalendarError(
                    f"calendar {self.name!r}: unknown holiday country/subdivision "
                    f"{self.holiday_country!r}/{self.holiday_subdivision!r} ({exc})"
                ) from exc
        timeline = Timeline(zone, self.hours, self._holidays_of_year)
        always = self.hours == OPEN_ALL_WEEK and not self.holiday_country and not self.holiday_dates
        object.__setattr__(self, "_timeline", timeline)
        object.__setattr__(self, "_always_open", always)

    def _holidays_of_year(self, year: int) -> frozenset[int]:
        days = {d.toordinal() for d in self.holiday_dates if d.year == year}
        if self.holiday_country is not None:
            days |= _country_holidays(self.holiday_country, self.holiday_subdivision, year)
        return frozenset(days)

    def _us(self, moment: datetime) -> int:
        try:
            return to_us(moment)
        except TypeError as exc:
            raise TypeError(
                f"calendar {self.name!r}: needs an aware datetime, got {moment!r}"
            ) from exc

    def _open_us(self, a: int, b: int) -> int:
        if self._always_open:
            return max(b - a, 0)
        return self._timeline.open_us(a, b)

    def _reach_us(self, a: int, target_us: int) -> int:
        if self._always_open:
            return a + target_us
        if self._timeline.week_us == 0:
            raise CalendarError(f"calendar {self.name!r} has no open hours: nothing is ever due")
        return self._timeline.due_us(a, target_us)

    def business_us(self, start_us: int, end_us: int, pauses: Sequence[Interval] = ()) -> int:
        """`business_seconds` on epoch microseconds (pauses too), in microseconds."""
        if end_us <= start_us:
            return 0
        total = self._open_us(start_us, end_us)
        if pauses:
            for ps, pe in _merged(pauses, start_us, end_us):
                total -= self._open_us(ps, pe)
        return total

    def due_us(self, start_us: int, target_us: int, pauses: Sequence[Interval] = ()) -> int:
        """`due` on epoch microseconds (pauses too) with the target in whole microseconds."""
        if target_us < 0:
            raise CalendarError(f"calendar {self.name!r}: target must be >= 0, got {target_us}us")
        if not pauses:
            return self._reach_us(start_us, target_us)
        cursor, remaining = start_us, target_us
        for ps, pe in _merged(pauses, cursor, None):
            reached = self._reach_us(cursor, remaining)
            # Reaching the target exactly as a pause begins is in time; a zero target needs an
            # instant that is not paused, and a pause's start is paused.
            if reached < ps or (reached == ps and remaining > 0):
                return reached
            remaining -= self._open_us(cursor, ps)
            cursor = max(cursor, pe)
        return self._reach_us(cursor, remaining)

    def business_seconds(
        self,
        start: datetime,
        end: datetime,
        pauses: Sequence[tuple[datetime, datetime]] = (),
    ) -> float:
        """Seconds of [start, end) that lie in open hours and outside every pause (pauses may
        overlap each other); 0.0 when end <= start."""
        return self.business_us(self._us(start), self._us(end), self._pauses_us(pauses)) / US

    def due(
        self,
        start: datetime,
        target_seconds: float,
        pauses: Sequence[tuple[datetime, datetime]] = (),
    ) -> datetime:
        """The earliest instant (aware UTC) at which business_seconds(start, it, pauses) reaches
        target_seconds; for 0, the first open, unpaused instant at or after start. A target met
        exactly at a closing is due at the closing. CalendarError if the calendar never opens."""
        if not math.isfinite(target_seconds) or target_seconds < 0:
            raise CalendarError(
                f"calendar {self.name!r}: target must be finite and >= 0, got {target_seconds!r}"
            )
        target_us = round(target_seconds * US)
        return from_us(self.due_us(self._us(start), target_us, self._pauses_us(pauses)))

    def is_open(self, at: datetime) -> bool:
        """Whether the instant lies in open hours (a holiday's own intervals are closed)."""
        return self._always_open or self._timeline.is_open(self._us(at))

    def next_open(self, at: datetime) -> datetime:
        """The first open instant at or after `at` (aware UTC); `at` itself when open."""
        return self.due(at, 0)

    def _pauses_us(self, pauses: Iterable[tuple[datetime, datetime]]) -> list[Interval]:
        return [(self._us(a), self._us(b)) for a, b in pauses]


def _merged(pauses: Iterable[Interval], lo: int, hi: int | None) -> list[Interval]:
    """Pauses as sorted, disjoint [start, end) microsecond spans, clipped to [lo, hi)."""
    out: list[Interval] = []
    for ps, pe in sorted(pauses):
        ps = max(ps, lo)
        if hi is not None:
            pe = min(pe, hi)
        if pe <= ps:
            continue
        if out and ps <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], pe))
        else:
            out.append((ps, pe))
    return out


@lru_cache(maxsize=1024)
def _country_holidays(country: str, subdivision: str | None, year: int) -> frozenset[int]:
    """Ordinals of the package's holidays of one country and year; shared by every calendar."""
    found = holidays_pkg.country_holidays(country, subdiv=subdivision, years=year)
    return frozenset(d.toordinal() for d in found)


def _format_seconds(seconds: int) -> str:
    h, rest = divmod(seconds % DAY_SECONDS if seconds != DAY_SECONDS else seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}" if s else f"{h:02d}:{m:02d}"


def _format_interval(span: Interval) -> str:
    return f"{_format_seconds(span[0])}-{_format_seconds(span[1])}"


def _check_overlaps(name: str, hours: WeekHours) -> None:
    """Refuse intervals that are empty, too long or overlap, across midnight and the week's end."""
    week = 7 * DAY_SECONDS
    flat: list[tuple[int, int, int, Interval]] = []
    for day, spans in enumerate(hours):
        for start, end in spans:
            if not (0 <= start < DAY_SECONDS and start < end < start + DAY_SECONDS + 1):
                raise CalendarError(
                    f"calendar {name!r}: invalid interval {_format_interval((start, end))!r} "
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
                f"calendar {name!r}: interval {_format_interval(span)!r} on {DAY_NAMES[day]} "
                f"overlaps {_format_interval(nxt_span)!r} on {DAY_NAMES[nxt_day]}"
            )


def _parse_time(name: str, text: str, raw: object) -> int:
    m = _TIME.fullmatch(text.strip())
    if m is None:
        raise CalendarError(f"calendar {name!r}: cannot parse interval {raw!r}")
    h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
    if mi > 59 or s > 59 or h > 24 or (h == 24 and (mi or s)):
        raise CalendarError(f"calendar {name!r}: cannot parse interval {raw!r} (no such time)")
    return h * 3600 + mi * 60 + s


def _parse_interval(name: str, raw: object) -> Interval:
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


def _parse_hours(name: str, hours: object) -> WeekHours:
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
            span = _parse_interval(name, raw)
            for day in days:
                per_day[day].append(span)
    return tuple(tuple(sorted(spans)) for spans in per_day)


def _parse_date(name: str, raw: object) -> date:
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw  # YAML reads an unquoted 2026-12-24 as a date
    try:
        return date.fromisoformat(str(raw))
    except ValueError as exc:
        raise CalendarError(f"calendar {name!r}: cannot parse holiday date {raw!r}") from exc


def build_calendar(name: str, spec: Mapping[str, Any]) -> Calendar:
    """Build the calendar of one `calendars.<name>` entry of the policy file; raises CalendarError
    naming the calendar and the offending interval or value."""
    if not isinstance(spec, Mapping):
        raise CalendarError(f"calendar {name!r}: spec must be a mapping")
    holidays = spec.get("holidays") or {}
    if not isinstance(holidays, Mapping):
        raise CalendarError(f"calendar {name!r}: holidays must be a mapping")
    country, subdivision = holidays.get("country"), holidays.get("subdivision")
    return Calendar(
        name=name,
        timezone=str(spec.get("timezone") or "UTC"),
        hours=_parse_hours(name, spec.get("hours")),
        holiday_country=None if country is None else str(country),
        holiday_subdivision=None if subdivision is None else str(subdivision),
        holiday_dates=frozenset(_parse_date(name, d) for d in holidays.get("dates") or ()),
    )


ALWAYS_OPEN = Calendar(name="24/7", timezone="UTC")
