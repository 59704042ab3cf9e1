"""The open-hours timeline of one calendar: a weekly wall-clock schedule realised as UTC instants.

Everything here works in integer microseconds since the Unix epoch (UTC), so sums and differences
are exact. `calendar.py` converts datetimes at the edge and owns the public contract.

How wall-clock hours become instants (SPEC section 4, decided here):

* An interval starts at the *first* instant the wall clock reads its start (fold=0) and ends at the
  *last* instant the wall clock reads its end (fold=1). So it covers every real instant in between:
  a 00:00-24:00 day lasts 23 or 25 hours, and a "00:00-02:30" interval on a fall-back night in
  Oslo lasts 3.5 hours (02:00-02:30 runs twice).
* A wall time that does not exist (the spring-forward gap) resolves to the instant the clock jumps.
  An interval that lies wholly in the gap is empty.
* Because ends take the later reading and starts the earlier one, two intervals that touch on the
  wall clock can overlap in real time across a fall-back (e.g. "22:00-02:30" then "02:30-06:00");
  the overlap is counted once. An instant is open when it lies in any resolved interval.
* A holiday (a whole local date) closes the intervals that *start* on it; an overnight interval
  from the evening before still runs into it.
* An override replaces the week's intervals that start on its local date, holiday or not; its
  intervals resolve by the same rules. Overnight intervals of the date before still run into it.

Speed: one day's intervals are resolved once and cached. A date is *regular* when it is no holiday,
has no override and no UTC-offset change happens within a few days of it; a regular date is open
exactly as long as the weekly template says (the calendar refuses overrides whose hours overlap a
neighbouring date's, so an override cannot change the dates next to it). So the open time before a
date is whole weeks times the weekly total, plus the template for the odd days, plus a correction
from one sorted table of the few irregular dates (holidays, overrides, DST days) of a contiguous
run of years, with running sums of how far each differs from the template. Both directions are
closed form: `dates_total` is two lookups in that table, and `due_us` finds the date a target is
reached on by one bisection of the table's running open time and a division by the weekly total, so
neither's cost grows with the range or target.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sla_core.instants import from_us, to_us

US = 1_000_000
DAY_SECONDS = 86_400
WEEK_DAYS = 7

Interval = tuple[int, int]
# Per weekday, Monday first: (start, end) in seconds after local midnight. An end past 86_400
# belongs to an overnight interval that runs into the next day.
WeekHours = tuple[tuple[Interval, ...], ...]

# Offset changes are found by sampling; no zone changes its offset twice within this step.
_SCAN_STEP_SECONDS = 3600
# A day's intervals reach at most two days ahead and are clipped against the two days before it,
# so an offset change further than this from a date cannot alter it.
_DST_MARGIN_DAYS = 4
# The table of irregular dates grows to take in years up to this far from those it holds; a year
# further away replaces it, so a stray far-off instant does not resolve every year in between.
_TABLE_GAP_YEARS = 20


def weekday(ordinal: int) -> int:
    """Monday 0 .. Sunday 6 of a proleptic Gregorian ordinal (date(1, 1, 1) was a Monday)."""
    return (ordinal - 1) % 7


def _offset_at(zone: ZoneInfo, us: int) -> timedelta | None:
    return from_us(us).astimezone(zone).utcoffset()


@lru_cache(maxsize=1024)
def _offset_change_dates(zone: ZoneInfo, year: int) -> frozenset[int]:
    """Ordinals of the local dates in `year` that lie near a UTC-offset change of `zone`."""
    first, last = date(year, 1, 1).toordinal(), date(year + 1, 1, 1).toordinal()
    scan_from = (first - date(1970, 1, 1).toordinal() - _DST_MARGIN_DAYS - 1) * DAY_SECONDS
    scan_to = (last - date(1970, 1, 1).toordinal() + _DST_MARGIN_DAYS + 1) * DAY_SECONDS
    marked: set[int] = set()
    before = datetime.fromtimestamp(scan_from, zone).utcoffset()
    for t in range(scan_from + _SCAN_STEP_SECONDS, scan_to, _SCAN_STEP_SECONDS):
        local = datetime.fromtimestamp(t, zone)
        after = local.utcoffset()
        if after != before:
            centre = local.toordinal()
            marked.update(range(centre - _DST_MARGIN_DAYS, centre + _DST_MARGIN_DAYS + 1))
            before = after
    return frozenset(o for o in marked if first <= o < last)


class _Table(NamedTuple):
    """Irregular dates of the years from the date `first` up to the date `stop` (both Jan 1)."""

    first: int
    stop: int
    ordinals: list[int]  # the irregular dates, sorted
    devs: list[int]  # devs[i]: sum of (actual - template) open time of ordinals[:i]
    ends: list[int]  # ends[i]: open time from ordinal 1 to the end of ordinals[i]
    stop_total: int  # open time from ordinal 1 to `stop`


class Timeline:
    """Open intervals of a weekly schedule in one zone, minus holidays, as UTC microseconds.

    Caches what it resolves, so it is not thread-safe beyond what the GIL gives dict updates:
    a race may resolve a day twice, with the same result.
    """

    def __init__(
        self,
        zone: ZoneInfo,
        hours: WeekHours,
        holidays_of_year: Callable[[int], frozenset[int]],
        overrides: Mapping[int, tuple[Interval, ...]] | None = None,
    ) -> None:
        """`overrides`: local dates (ordinals) and the intervals that replace the week's there."""
        self.zone = zone
        self.hours = hours
        self._holidays_of_year = holidays_of_year
        self._overrides = dict(overrides or {})
        self._override_ordinals = sorted(self._overrides)
        self._override_years: dict[int, set[int]] = {}
        for o in self._override_ordinals:
            self._override_years.setdefault(date.fromordinal(o).year, set()).add(o)
        self._standard = tuple(sum(e - s for s, e in day) * US for day in hours)
        self.week_us = sum(self._standard)
        running = [0]
        for i in range(2 * WEEK_DAYS):
            running.append(running[-1] + self._standard[i % WEEK_DAYS])
        self._standard_running = tuple(running)
        self._holidays: dict[int, frozenset[int]] = {}
        self._raw: dict[int, tuple[Interval, ...]] = {}
        self._days: dict[int, tuple[Interval, ...]] = {}
        self._totals: dict[int, int] = {}
        self._years: dict[int, tuple[tuple[int, int], ...]] = {}
        self._table = _Table(0, 0, [], [0], [], 0)

    # One local date.

    def local_ordinal(self, us: int) -> int:
        """The local date (as an ordinal) on which the instant falls."""
        return datetime.fromtimestamp(us // US, self.zone).toordinal()

    def day(self, ordinal: int) -> tuple[Interval, ...]:
        """Sorted, disjoint open intervals of the intervals that start on this local date,
        with any part already open from the two dates before it removed."""
        got = self._days.get(ordinal)
        if got is None:
            got = self._raw_day(ordinal)
            floor = max(
                (end for o in (ordinal - 2, ordinal - 1) for _, end in self._raw_day(o)),
                default=None,
            )
            if floor is not None and got and got[0][0] < floor:
                got = tuple((max(s, floor), e) for s, e in got if e > floor)
            self._days[ordinal] = got
        return got

    def day_total(self, ordinal: int) -> int:
        """Open microseconds of `day(ordinal)`."""
        got = self._totals.get(ordinal)
        if got is None:
            got = sum(e - s for s, e in self.day(ordinal))
            self._totals[ordinal] = got
        return got

    def _raw_day(self, ordinal: int) -> tuple[Interval, ...]:
        got = self._raw.get(ordinal)
        if got is None:
            got = self._resolve_day(ordinal)
            self._raw[ordinal] = got
        return got

    def _resolve_day(self, ordinal: int) -> tuple[Interval, ...]:
        day = date.fromordinal(ordinal)
        wall = self._overrides.get(ordinal)
        if wall is None:  # an override wins over a holiday
            holidays = self._holidays.get(day.year)
            if holidays is None:
                holidays = self._holidays[day.year] = self._holidays_of_year(day.year)
            if ordinal in holidays:
                return ()
            wall = self.hours[day.weekday()]
        midnight = datetime(day.year, day.month, day.day)
        spans = sorted(
            (self._resolve(midnight, start, fold=0), self._resolve(midnight, end, fold=1))
            for start, end in wall
        )
        merged: list[Interval] = []
        for s, e in spans:
            if e <= s:
                continue  # swallowed by a spring-forward gap
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        return tuple(merged)

    def _resolve(self, midnight: datetime, wall_seconds: int, fold: int) -> int:
        wall = midnight + timedelta(seconds=wall_seconds)
        first = to_us(wall.replace(tzinfo=self.zone, fold=0))
        second = to_us(wall.replace(tzinfo=self.zone, fold=1))
        if first == second:
            return first
        if first < second:  # the wall time happens twice (fall-back)
            return second if fold else first
        # The wall time does not exist: zoneinfo maps it on either side of the jump, which
        # lies in (second, first]. Find it to the microsecond.
        target = _offset_at(self.zone, first)
        lo, hi = second, first
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _offset_at(self.zone, mid) == target:
                hi = mid
            else:
                lo = mid
        return hi

    # Ranges of dates in closed form.

    def _irregular(self, year: int) -> tuple[tuple[int, int], ...]:
        """The year's irregular dates, sorted, each with (actual - template) open time."""
        got = self._years.get(year)
        if got is None:
            first, last = date(year, 1, 1).toordinal(), date(year + 1, 1, 1).toordinal()
            holidays = {o for o in self._holidays_of_year(year) if first <= o < last}
            overridden = self._override_years.get(year, set())
            ordinals = sorted(holidays | overridden | _offset_change_dates(self.zone, year))
            got = tuple((o, self.day_total(o) - self._standard[weekday(o)]) for o in ordinals)
            self._years[year] = got
        return got

    def _template_before(self, ordinal: int) -> int:
        """Template open time of the dates from ordinal 1 (a Monday) up to `ordinal`."""
        weeks, days = divmod(ordinal - 1, WEEK_DAYS)
        return weeks * self.week_us + self._standard_running[days]

    def _cover(self, first: int, stop: int) -> _Table:
        """The table, grown (or replaced) to hold local dates [first, stop) and so to give the
        open time before any of them and before `stop`."""
        table = self._table
        if table.first <= first and stop <= table.stop:
            return table
        lo, hi = date.fromordinal(first).year, date.fromordinal(max(stop - 1, first)).year
        if table.stop > table.first:
            held_lo = date.fromordinal(table.first).year
            held_hi = date.fromordinal(table.stop - 1).year
            if lo - held_hi <= _TABLE_GAP_YEARS and held_lo - hi <= _TABLE_GAP_YEARS:
                lo, hi = min(lo, held_lo), max(hi, held_hi)
        ordinals: list[int] = []
        devs = [0]
        ends: list[int] = []
        for year in range(lo, hi + 1):
            for o, dev in self._irregular(year):
                ordinals.append(o)
                devs.append(devs[-1] + dev)
                ends.append(self._template_before(o + 1) + devs[-1])
        table_stop = date(hi + 1, 1, 1).toordinal()
        stop_total = self._template_before(table_stop) + devs[-1]
        table = _Table(date(lo, 1, 1).toordinal(), table_stop, ordinals, devs, ends, stop_total)
        self._table = table  # one assignment: readers see the old table or the new one
        return table

    def _open_before(self, table: _Table, ordinal: int) -> int:
        """Open time of the dates from ordinal 1 up to `ordinal` (within the table's years),
        counting only the table's irregular dates as irregular: differences are exact."""
        return self._template_before(ordinal) + table.devs[bisect_left(table.ordinals, ordinal)]

    def dates_total(self, first: int, stop: int) -> int:
        """Open microseconds of the intervals that start on local dates [first, stop)."""
        if stop <= first:
            return 0
        table = self._cover(first, stop)
        return self._open_before(table, stop) - self._open_before(table, first)

    def _date_reaching(self, first: int, remaining: int) -> tuple[int, int]:
        """The first local date from `first` on whose end the open time since `first` reaches
        `remaining` (> 0), and the open time still to go when that date begins."""
        table = self._table
        if not table.first <= first < table.stop:
            table = self._cover(first, first + 1)
        goal = self._open_before(table, first) + remaining
        while table.stop_total < goal:  # reach beyond the table: add the years the goal needs
            days = WEEK_DAYS * ((goal - table.stop_total) // self.week_us + 1)
            table = self._cover(first, table.stop + days)
            goal = self._open_before(table, first) + remaining
        k = bisect_left(table.ends, goal)
        dev = table.devs[k]
        if k < len(table.ordinals):
            o = table.ordinals[k]
            before = self._template_before(o) + dev
            if before < goal:  # reached on the irregular date itself
                return o, goal - before
        # Reached on a regular date after the irregular ones before k: invert the template.
        # With goal - dev - 1 = weeks * week_us + rest, the date is the `days`-th of week
        # `weeks` (1..7) whose end is the first to reach rest + 1.
        weeks, rest = divmod(goal - dev - 1, self.week_us)
        running = self._standard_running
        days = bisect_left(running, rest + 1, 1, WEEK_DAYS + 1)
        return WEEK_DAYS * weeks + days, rest + 1 - running[days - 1]

    # Questions about instants.

    def _overlap(self, first: int, stop: int, a: int, b: int) -> int:
        total = 0
        for o in range(first, stop):
            for s, e in self.day(o):
                if e > a and s < b:
                    total += min(e, b) - max(s, a)
        return total

    def open_us(self, a: int, b: int) -> int:
        """Open microseconds in [a, b)."""
        if b <= a:
            return 0
        la, lb = self.local_ordinal(a), self.local_ordinal(b)
        # Intervals of a date reach at most two dates ahead, hence the -2; dates from la + 2 to
        # lb - 3 lie wholly inside [a, b) and are summed in closed form.
        if lb - la < 8:
            return self._overlap(la - 2, lb + 1, a, b)
        return (
            self._overlap(la - 2, la + 2, a, b)
            + self.dates_total(la + 2, lb - 2)
            + self._overlap(lb - 2, lb + 1, a, b)
        )

    def is_open(self, us: int) -> bool:
        """Whether the instant lies in an open interval."""
        lo = self.local_ordinal(us)
        return any(s <= us < e for o in range(lo - 2, lo + 1) for s, e in self.day(o))

    def due_us(self, a: int, target: int) -> int:
        """The earliest instant at which open time since `a` reaches `target` (target 0: the first
        open instant at or after `a`). LookupError when it is never reached: the week has no
        open hours and the overrides after `a` do not hold enough."""
        la = self.local_ordinal(a)
        remaining = target
        cached = self._days
        for o in range(la - 2, la + 2):
            spans = cached.get(o)
            for s, e in self.day(o) if spans is None else spans:
                if e <= a:
                    continue
                if s < a:
                    s = a
                if remaining <= e - s:
                    return s + remaining
                remaining -= e - s
        # Every interval from here on starts after `a`: whole days count in full.
        d = la + 2
        if self.week_us == 0:
            d, remaining = self._override_reaching(d, remaining)
        elif remaining == 0:
            while not self.day(d):
                d += 1
            return self.day(d)[0][0]
        if remaining > self.week_us:
            d, remaining = self._date_reaching(d, remaining)
        else:  # a week or less: a few cached days cost less than the table lookups
            while (total := self.day_total(d)) < remaining:
                remaining -= total
                d += 1
        for s, e in self.day(d):
            if remaining <= e - s:
                return s + remaining
            remaining -= e - s
        raise AssertionError("unreachable: the day's total covers what remains")

    def _override_reaching(self, first: int, remaining: int) -> tuple[int, int]:
        """With no weekly hours only overrides open: the first override date from `first` on that
        opens at all and by whose end the open time reaches `remaining`, and what is left of
        `remaining` when that date begins."""
        for o in self._override_ordinals[bisect_left(self._override_ordinals, first) :]:
            total = self.day_total(o)
            if total and total >= remaining:
                return o, remaining
            remaining -= total
        raise LookupError("no open hours after the last override")
