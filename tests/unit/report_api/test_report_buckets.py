"""Which rollup answers which part of a report range: the parts cover the range exactly, and no
part straddles a local midnight of the report's zone."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from report_api.buckets import local_day_starts, segments

ZONES = ["UTC", "Europe/Oslo", "Asia/Kathmandu", "Australia/Lord_Howe", "America/St_Johns"]


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1)),
    length_minutes=st.integers(min_value=1, max_value=60 * 24 * 40),
    zone=st.sampled_from(ZONES),
)
@example(start=datetime(2025, 1, 1, 23, 45, 0, 1), length_minutes=15, zone="UTC")  # all raw
def test_parts_cover_the_range_and_respect_local_days(
    start: datetime, length_minutes: int, zone: str
) -> None:
    lo = start.replace(tzinfo=UTC)
    hi = lo + timedelta(minutes=length_minutes, seconds=start.second % 7)
    tz = ZoneInfo(zone)
    boundaries = local_day_starts(lo, hi, tz)
    parts = segments(lo, hi, boundaries)
    pieces = sorted(
        [(a, b, "hour") for a, b in parts.hour]
        + [(a, b, "quarter") for a, b in parts.quarter]
        + [(a, b, "raw") for a, b in parts.raw]
    )
    pieces = [p for p in pieces if p[0] < p[1]]
    assert pieces[0][0] == lo and pieces[-1][1] == hi
    for (_, end, _), (begin, _, _) in itertools.pairwise(pieces):
        assert end == begin  # contiguous, no overlap
    grain = {"hour": 3600, "quarter": 900, "raw": None}
    for a, b, kind in pieces:
        # Each rollup row (one grain) lies within one local day. A raw part may hold a day's
        # start (a range shorter than a quarter across midnight): raw timers are grouped one by
        # one, by their own started_at.
        inside = [m for m in boundaries if a < m < b]
        seconds = grain[kind]
        if seconds is not None:
            assert all((m - a).total_seconds() % seconds == 0 for m in inside), (a, b, kind)
        if kind == "hour":
            assert a.minute == a.second == 0 and b.minute == b.second == 0
        if kind == "quarter":
            assert a.minute % 15 == 0 and a.second == 0


def test_kathmandu_midnight_splits_an_hour_into_quarters() -> None:
    lo = datetime(2026, 3, 28, tzinfo=UTC)
    hi = datetime(2026, 3, 30, tzinfo=UTC)
    tz = ZoneInfo("Asia/Kathmandu")
    parts = segments(lo, hi, local_day_starts(lo, hi, tz))
    split = datetime(2026, 3, 28, 18, tzinfo=UTC)
    assert (split, split + timedelta(hours=1)) in parts.quarter
    assert parts.raw == []


def test_spring_dst_day_in_oslo_has_23_hours() -> None:
    lo = datetime(2026, 3, 28, 23, tzinfo=UTC)  # 2026-03-29 00:00 CET
    starts = local_day_starts(
        lo - timedelta(hours=1), lo + timedelta(days=2), ZoneInfo("Europe/Oslo")
    )
    assert starts[1] - starts[0] == timedelta(hours=23)
