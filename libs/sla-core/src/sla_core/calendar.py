"""Business calendars: open hours in a local time zone minus holidays, and business-time maths.

A calendar answers, for instants given as aware datetimes (any offset): how many business seconds
lie between two instants (`business_seconds`), when a target of business seconds is reached
(`due`), and whether an instant is open. It reads no clock and does no I/O; holidays come from the
`holidays` package (computed per year, on first use) and from explicit dates; `overrides` replace
the week's hours of single local dates (`sla_core.overrides`). A calendar whose zone comes from
the ticket gives, per zone, a variant of itself (`resolve`, `in_zone`; see `sla_core.zones`).

Semantics (SPEC section 4). Open hours are local wall-clock intervals, so a 00:00-24:00 day with a
DST change lasts 23 or 25 hours. How wall times that happen twice or never are resolved, and how
holidays and overrides meet overnight intervals, is documented in `sla_core._weekly`, which does
the arithmetic. Results are exact to the microsecond: durations are returned as float seconds of an
integer number of microseconds, and targets are rounded to the nearest microsecond.

Spec format of `build_calendar` (one entry of `calendars:` in the policy file)::

    timezone: Europe/Oslo                 # IANA name, default UTC; or, from the ticket:
                                          # {from: customer_timezone, default: Europe/Oslo}
    hours:                                # omitted: open all week (zone and holidays still apply)
      mon-fri: ["09:00-17:00"]            # days: mon..sun, ranges "mon-fri", lists "mon,wed", daily
      sat: ["10:00-14:00", "22:00-06:00"] # "22:00-06:00" spans midnight and belongs to Saturday
    holidays: {country: "NO", subdivision: null, dates: ["2026-12-24"]}
    overrides:                            # local dates whose hours replace the week's
      "2026-12-23": ["09:00-12:00"]       # a half day; [] closes a date; wins over a holiday
      "2026-12-27..2026-12-30": ["10:00-15:00"]   # an inclusive range
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_pkg

from sla_core._weekly import US, Interval, Timeline, WeekHours
from sla_core.hours import OPEN_ALL_WEEK, CalendarError, check_overlaps, parse_hours
from sla_core.instants import from_us, to_us
from sla_core.overrides import Overrides, check_overrides, parse_overrides
from sla_core.zones import ZoneChoice, ZoneFromTicket, ZoneVariants, parse_timezone

__all__ = [
    "ALWAYS_OPEN",
    "Calendar",
    "CalendarError",
    "ZoneChoice",
    "ZoneFromTicket",
    "build_calendar",
]


@dataclass(frozen=True)
class Calendar:
    """Weekly open hours (wall-clock intervals in `timezone`) minus holidays, with per-date
    overrides; an immutable, hashable value.

    Build it with `build_calendar` from a policy spec; constructing it directly validates the
    same things (zones, overlaps, holiday country, overrides) and raises CalendarError.
    `timezone` is the zone in force; with `zone_from` set, the policy calendar has the default
    zone there and its variants (`in_zone`, `resolve`) the ticket's, under the same `name`.
    """

    name: str
    timezone: str = "UTC"
    hours: WeekHours = OPEN_ALL_WEEK
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    holiday_dates: frozenset[date] = frozenset()
    overrides: Overrides = ()
    zone_from: ZoneFromTicket | None = None
    _timeline: Timeline = field(init=False, repr=False, compare=False)
    _always_open: bool = field(init=False, repr=False, compare=False)
    _zones: ZoneVariants[Calendar] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where: tuple[str | int, ...] = ("timezone",) if self.zone_from is None else ()
        if self.zone_from is not None:
            _zone(self.name, self.zone_from.default, ("timezone", "default"))
        zone = _zone(self.name, self.timezone, where)
        if len(self.hours) != 7:
            raise CalendarError(f"calendar {self.name!r}: hours must list 7 weekdays")
        check_overlaps(self.name, self.hours)
        object.__setattr__(self, "overrides", tuple(sorted(self.overrides)))
        check_overrides(self.name, self.hours, self.overrides)
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
        by_ordinal = {day.toordinal(): spans for day, spans in self.overrides}
        timeline = Timeline(zone, self.hours, self._holidays_of_year, by_ordinal)
        always = self.hours == OPEN_ALL_WEEK and not (
            self.holiday_country or self.holiday_dates or self.overrides
        )
        object.__setattr__(self, "_timeline", timeline)
        object.__setattr__(self, "_always_open", always)
        zones = ZoneVariants(self, self.timezone, self.zone_from, self._variant)
        object.__setattr__(self, "_zones", zones)

    def _variant(self, zone: str) -> Calendar:
        variant = dataclasses.replace(self, timezone=zone)
        object.__setattr__(variant, "_zones", self._zones)  # one cache for the whole family
        return variant

    def resolve(self, attrs: Mapping[str, Any]) -> ZoneChoice[Calendar]:
        """The calendar a timer starting now uses, given the ticket's attributes: for a zone
        from the ticket, this calendar in the zone the attribute names, else in the default
        (`fallback` set); for a fixed zone, this calendar (source "calendar"). Never raises;
        the same zone always gives the identical Calendar."""
        return self._zones.choose(attrs)

    def in_zone(self, zone: str) -> Calendar:
        """This calendar (same name, hours, holidays and overrides) read in `zone`, e.g. the
        zone a restored timer stored from its `ZoneChoice`; the identical object for the same
        zone, and this calendar itself for its own zone. CalendarError if the zone is unknown."""
        return self._zones.in_zone(zone)

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
        if self._timeline.week_us == 0 and not self.overrides:
            raise CalendarError(f"calendar {self.name!r} has no open hours: nothing is ever due")
        try:
            return self._timeline.due_us(a, target_us)
        except LookupError:
            raise CalendarError(
                f"calendar {self.name!r} has no open hours after its last override: "
                "the target is never reached"
            ) from None

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


def _zone(name: str, zone: str, where: tuple[str | int, ...]) -> ZoneInfo:
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise CalendarError(f"calendar {name!r}: unknown time zone {zone!r}", where) from exc


@lru_cache(maxsize=1024)
def _country_holidays(country: str, subdivision: str | None, year: int) -> frozenset[int]:
    """Ordinals of the package's holidays of one country and year; shared by every calendar."""
    found = holidays_pkg.country_holidays(country, subdiv=subdivision, years=year)
    return frozenset(d.toordinal() for d in found)


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
    timezone, zone_from = parse_timezone(name, spec.get("timezone"))
    overrides, keys = parse_overrides(name, spec.get("overrides"))
    try:
        return Calendar(
            name=name,
            timezone=timezone,
            hours=parse_hours(name, spec.get("hours")),
            holiday_country=None if country is None else str(country),
            holiday_subdivision=None if subdivision is None else str(subdivision),
            holiday_dates=frozenset(_parse_date(name, d) for d in holidays.get("dates") or ()),
            overrides=overrides,
            zone_from=zone_from,
        )
    except CalendarError as exc:
        if exc.where[:1] == ("overrides",) and len(exc.where) > 1:
            # The check names the date; the policy wrote the key that covers it (maybe a range).
            key = keys.get(str(exc.where[1]), exc.where[1])
            exc.where = ("overrides", str(key), *exc.where[2:])
        raise


ALWAYS_OPEN = Calendar(name="24/7", timezone="UTC")
