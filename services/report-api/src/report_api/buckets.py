"""Time maths of the compliance report: which parts of a range each rollup table can answer.

Pure functions of instants and a zone. A report range [start, end) is cut into three lists of
UTC ranges:

- `hour`: whole UTC hours that no group boundary (a local midnight, or the range's own ends)
  splits: read from an hour rollup;
- `quarter`: 15-minute buckets at the range's unaligned ends and inside the hours that a
  boundary splits (local midnights of :30/:45 zones): read from a quarter rollup;
- `raw`: the leftovers finer than 15 minutes (an unaligned `from`/`to`, or a zone offset that is
  not a multiple of 15 minutes, such as a 19th-century local mean time): read from the timers.

Every part then lies wholly inside one local day, so grouping parts by the local date of their
start groups their timers exactly by the local date of `started_at`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

QUARTER_SECONDS = 900
HOUR_SECONDS = 3600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Range = tuple[datetime, datetime]


def floor_to(moment: datetime, seconds: int) -> datetime:
    """The start of the UTC bucket of `seconds` (a divisor of a day) that holds `moment`."""
    elapsed = moment - _EPOCH
    remainder = elapsed % timedelta(seconds=seconds)
    return moment.astimezone(UTC) - remainder


def ceil_to(moment: datetime, seconds: int) -> datetime:
    """The first UTC bucket boundary of `seconds` at or after `moment`."""
    floor = floor_to(moment, seconds)
    return floor if floor == moment else floor + timedelta(seconds=seconds)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant (UTC) at which `day` begins in `zone`.

    Where midnight does not exist (a DST change at 00:00), zoneinfo reads it with the earlier
    offset, which lands exactly on the change: the day's first instant."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def local_day_starts(start: datetime, end: datetime, zone: ZoneInfo) -> list[datetime]:
    """The instants strictly inside (start, end) at which a day begins in `zone`."""
    first = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    out = []
    day = first
    while day <= last:
        moment = local_midnight(day, zone)
        if start < moment < end:
            out.append(moment)
        if day == date.max:
            break
        day += timedelta(days=1)
    return out


@dataclass(frozen=True)
class Segments:
    """A range cut by the table that can answer each part (see the module docstring)."""

    hour: list[Range]
    quarter: list[Range]
    raw: list[Range]


def _merge(ranges: Iterable[Range]) -> list[Range]:
    out: list[Range] = []
    for lo, hi in sorted(r for r in ranges if r[0] < r[1]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _minus(ranges: Iterable[Range], slots: Iterable[datetime], seconds: int) -> list[Range]:
    """`ranges` without the aligned slots [s, s + seconds)."""
    out = _merge(ranges)
    for slot in sorted(set(slots)):
        hole = (slot, slot + timedelta(seconds=seconds))
        cut: list[Range] = []
        for lo, hi in out:
            if hole[1] <= lo or hi <= hole[0]:
                cut.append((lo, hi))
                continue
            cut.extend(r for r in ((lo, hole[0]), (hole[1], hi)) if r[0] < r[1])
        out = cut
    return out


def segments(
    start: datetime, end: datetime, boundaries: Iterable[datetime], *, hours: bool = True
) -> Segments:
    """Cut [start, end) for the rollups; `boundaries` are the group boundaries inside it.

    With `hours=False` (no hour rollup has the dimensions asked for) nothing is read by hour."""
    q_lo, q_hi = ceil_to(start, QUARTER_SECONDS), floor_to(end, QUARTER_SECONDS)
    if q_lo >= q_hi:
        return Segments(hour=[], quarter=[], raw=[(start, end)])
    raw: list[Range] = [(start, q_lo), (q_hi, end)]
    inner = [b for b in boundaries if q_lo < b < q_hi]
    unaligned_quarters = {q for b in inner if (q := floor_to(b, QUARTER_SECONDS)) != b}
    h_lo, h_hi = ceil_to(q_lo, HOUR_SECONDS), floor_to(q_hi, HOUR_SECONDS)
    split_hours = {h for b in inner if (h := floor_to(b, HOUR_SECONDS)) != b and h_lo <= h < h_hi}
    hour: list[Range] = []
    quarter: list[Range]
    if hours and h_lo < h_hi:
        hour = _minus([(h_lo, h_hi)], split_hours, HOUR_SECONDS)
        quarter = [(q_lo, h_lo), (h_hi, q_hi)]
        quarter += [(h, h + timedelta(seconds=HOUR_SECONDS)) for h in split_hours]
    else:
        quarter = [(q_lo, q_hi)]
    quarter = _minus(quarter, unaligned_quarters, QUARTER_SECONDS)
    raw += [(q, q + timedelta(seconds=QUARTER_SECONDS)) for q in unaligned_quarters]
    return Segments(hour=_merge(hour), quarter=_merge(quarter), raw=_merge(raw))
