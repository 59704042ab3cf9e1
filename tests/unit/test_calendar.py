"""Worked examples of sla_core.calendar: one case per rule of SPEC section 4, values by hand.

The property tests (test_calendar_properties.py) check the calendar against an oracle; these
document what it means. Every expected value is worked out in the comment above it. Dates are
chosen on ordinary weeks unless the case is about a holiday or a DST change: Monday 2026-03-02 to
Sunday 2026-03-08 is such a week, with no holiday in Norway.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sla_core.calendar import ALWAYS_OPEN, Calendar, CalendarError, build_calendar

H = 3600
OSLO = "Europe/Oslo"


def local(
    zone: str,
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> datetime:
    """A wall-clock reading in `zone`; the first one (fold=0) when it happens twice."""
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=ZoneInfo(zone))


def oslo(*parts: int) -> datetime:
    return local(OSLO, *parts)


def utc(*parts: int) -> datetime:
    return local("UTC", *parts)


def office(**extra: Any) -> Calendar:
    """The seeds' calendar: Mon-Fri 09:00-17:00 in Oslo; `extra` replaces spec keys."""
    return build_calendar(
        "office", {"timezone": OSLO, "hours": {"mon-fri": ["09:00-17:00"]}} | extra
    )


# The seeds example and the basic rules.


def test_seeds_example_friday_afternoon_is_due_monday_noon() -> None:
    cal = office()
    # Friday 16:00-17:00 gives 1 h; the weekend is closed; Monday 09:00-12:00 gives the other 3 h.
    assert cal.due(oslo(2026, 3, 6, 16), 4 * H) == oslo(2026, 3, 9, 12)
    assert cal.business_seconds(oslo(2026, 3, 6, 16), oslo(2026, 3, 9, 12)) == 4 * H


def test_a_ticket_arriving_at_night_starts_counting_at_the_next_opening() -> None:
    cal = office()
    night = oslo(2026, 3, 3, 2)  # Tuesday 02:00
    assert not cal.is_open(night)
    assert cal.next_open(night) == oslo(2026, 3, 3, 9)
    # Nothing counts before 09:00, so 1 h is reached at 10:00.
    assert cal.due(night, 1 * H) == oslo(2026, 3, 3, 10)
    assert cal.business_seconds(night, oslo(2026, 3, 3, 10)) == 1 * H
    # Saturday 02:00: the next opening is Monday 09:00.
    assert cal.next_open(oslo(2026, 3, 7, 2)) == oslo(2026, 3, 9, 9)


def test_a_target_reached_exactly_at_closing_is_due_at_closing() -> None:
    cal = office()
    # 13:00 + 4 h = 17:00, the closing itself, not Tuesday 09:00.
    assert cal.due(oslo(2026, 3, 2, 13), 4 * H) == oslo(2026, 3, 2, 17)
    # A whole day's 8 h from the opening: Monday 17:00.
    assert cal.due(oslo(2026, 3, 2, 9), 8 * H) == oslo(2026, 3, 2, 17)
    # Intervals are half-open: the closing instant itself is closed, the opening instant is open.
    assert not cal.is_open(oslo(2026, 3, 2, 17))
    assert cal.is_open(oslo(2026, 3, 2, 9))
    # So a zero target at the closing waits for the next opening.
    assert cal.due(oslo(2026, 3, 2, 17), 0) == oslo(2026, 3, 3, 9)


def test_several_intervals_per_day() -> None:
    cal = office(hours={"mon-fri": ["09:00-12:00", "13:00-17:00"]})
    # 11:00-12:00 gives 1 h, lunch is closed, 13:00-14:00 gives the second hour.
    assert cal.due(oslo(2026, 3, 2, 11), 2 * H) == oslo(2026, 3, 2, 14)
    # Reaching the target at the lunch closing is due at 12:00, not 13:00.
    assert cal.due(oslo(2026, 3, 2, 11), 1 * H) == oslo(2026, 3, 2, 12)
    assert not cal.is_open(oslo(2026, 3, 2, 12, 30))
    # A whole day: 3 h + 4 h.
    assert cal.business_seconds(oslo(2026, 3, 2), oslo(2026, 3, 3)) == 7 * H


def test_day_ranges_and_single_days() -> None:
    cal = office(hours={"mon-fri": ["09:00-17:00"], "sat": ["10:00-14:00"]})
    # Friday 16:00-17:00 gives 1 h; Saturday 10:00-13:00 the other 3 h.
    assert cal.due(oslo(2026, 3, 6, 16), 4 * H) == oslo(2026, 3, 7, 13)
    # The week: 5 x 8 h + 4 h = 44 h.
    assert cal.business_seconds(oslo(2026, 3, 2), oslo(2026, 3, 9)) == 44 * H


@pytest.mark.parametrize(
    ("days", "open_days"),
    [
        ("mon-fri", 5),
        ("sat", 1),
        ("fri-mon", 4),  # a range may wrap over the weekend: fri, sat, sun, mon
        ("mon,wed", 2),
        ("mon-tue,thu", 3),
        ("daily", 7),
    ],
)
def test_day_keys(days: str, open_days: int) -> None:
    cal = office(hours={days: ["10:00-11:00"]})
    # One hour on each named day, so a week holds as many hours as there are days.
    assert cal.business_seconds(oslo(2026, 3, 2), oslo(2026, 3, 9)) == open_days * H


# Intervals that span midnight, and 24:00.


def night_shift(**holidays: Any) -> Calendar:
    return build_calendar(
        "night", {"timezone": OSLO, "hours": {"fri": ["22:00-06:00"]}, "holidays": holidays}
    )


def test_an_overnight_interval_belongs_to_the_day_it_starts_on() -> None:
    cal = night_shift()
    # Friday 22:00 to Saturday 06:00: 8 h, all of the week's open time.
    assert cal.business_seconds(oslo(2026, 3, 2), oslo(2026, 3, 9)) == 8 * H
    assert cal.is_open(oslo(2026, 3, 7, 3))  # Saturday 03:00 is Friday's shift
    assert not cal.is_open(oslo(2026, 3, 6, 3))  # Friday 03:00 would be Thursday's: none
    # Friday 20:00: counting starts 22:00, 1 h later is 23:00; across midnight it runs on.
    assert cal.due(oslo(2026, 3, 6, 20), 1 * H) == oslo(2026, 3, 6, 23)
    assert cal.due(oslo(2026, 3, 6, 20), 3 * H) == oslo(2026, 3, 7, 1)
    # A target reached at the shift's end is due Saturday 06:00.
    assert cal.due(oslo(2026, 3, 6, 20), 8 * H) == oslo(2026, 3, 7, 6)


def test_a_holiday_on_saturday_does_not_close_friday_nights_shift() -> None:
    cal = night_shift(dates=["2026-03-07"])
    # The shift starts on Friday, which is no holiday: still 8 h, and Saturday 03:00 is open.
    assert cal.business_seconds(oslo(2026, 3, 6), oslo(2026, 3, 8)) == 8 * H
    assert cal.is_open(oslo(2026, 3, 7, 3))
    assert cal.due(oslo(2026, 3, 7, 3), 1 * H) == oslo(2026, 3, 7, 4)


def test_a_holiday_on_friday_closes_its_night_shift() -> None:
    cal = night_shift(dates=["2026-03-06"])
    assert cal.business_seconds(oslo(2026, 3, 6), oslo(2026, 3, 8)) == 0
    assert not cal.is_open(oslo(2026, 3, 7, 3))
    # Saturday 03:00 + 1 h: the next shift opens Friday 2026-03-13 22:00, so 23:00.
    assert cal.due(oslo(2026, 3, 7, 3), 1 * H) == oslo(2026, 3, 13, 23)


def test_overnight_intervals_run_into_the_next_week() -> None:
    cal = build_calendar("sunday-night", {"timezone": OSLO, "hours": {"sun": ["22:00-06:00"]}})
    # Sunday 2026-03-08 22:00 runs to Monday 2026-03-09 06:00.
    assert cal.due(oslo(2026, 3, 8, 12), 7 * H) == oslo(2026, 3, 9, 5)
    assert cal.is_open(oslo(2026, 3, 9, 5, 59))


def test_24_00_ends_a_day() -> None:
    cal = office(hours={"mon-fri": ["20:00-24:00"]})
    # Monday 20:00 to Tuesday 00:00 is 4 h.
    assert cal.business_seconds(oslo(2026, 3, 2), oslo(2026, 3, 3)) == 4 * H
    assert not cal.is_open(oslo(2026, 3, 3, 0))
    # Monday 23:00 + 2 h: 1 h on Monday, then Tuesday 20:00-21:00.
    assert cal.due(oslo(2026, 3, 2, 23), 2 * H) == oslo(2026, 3, 3, 21)
    # A target reached at 24:00 is due at the next midnight.
    assert cal.due(oslo(2026, 3, 2, 23), 1 * H) == oslo(2026, 3, 3)


def test_24_00_touching_the_next_days_00_00_is_one_open_stretch() -> None:
    cal = office(hours={"mon": ["18:00-24:00"], "tue": ["00:00-06:00"]})
    # Monday 23:00 + 2 h: 23:00-24:00 and Tuesday 00:00-01:00, no gap between them.
    assert cal.due(oslo(2026, 3, 2, 23), 2 * H) == oslo(2026, 3, 3, 1)
    assert cal.business_seconds(oslo(2026, 3, 2), oslo(2026, 3, 4)) == 12 * H


# Holidays.


def test_norwegian_constitution_day() -> None:
    cal = office(holidays={"country": "NO"})
    # 17 May 2028 is a Wednesday. Tuesday 16:00-17:00 gives 1 h; Wednesday is closed; Thursday
    # 09:00-10:00 gives the second hour.
    assert cal.due(oslo(2028, 5, 16, 16), 2 * H) == oslo(2028, 5, 18, 10)
    assert cal.business_seconds(oslo(2028, 5, 17), oslo(2028, 5, 18)) == 0
    assert not cal.is_open(oslo(2028, 5, 17, 12))


def test_us_new_york_keeps_lincolns_birthday_the_federal_calendar_does_not() -> None:
    def new_york(**holidays: Any) -> Calendar:
        return build_calendar(
            "ny",
            {
                "timezone": "America/New_York",
                "hours": {"mon-fri": ["09:00-17:00"]},
                "holidays": holidays,
            },
        )

    # Thursday 2026-02-12 is Lincoln's Birthday, a New York holiday only.
    day = (local("America/New_York", 2026, 2, 12), local("America/New_York", 2026, 2, 13))
    assert new_york(country="US").business_seconds(*day) == 8 * H
    assert new_york(country="US", subdivision="NY").business_seconds(*day) == 0


@pytest.mark.parametrize(
    ("day", "bavaria_hours", "berlin_hours"),
    [
        (date(2026, 1, 6), 0, 8),  # Tuesday, Epiphany: a holiday in Bavaria, not in Berlin
        (date(2027, 3, 8), 8, 0),  # Monday, Women's Day: a holiday in Berlin, not in Bavaria
    ],
)
def test_german_states_differ(day: date, bavaria_hours: int, berlin_hours: int) -> None:
    def state(subdivision: str) -> Calendar:
        return build_calendar(
            f"de-{subdivision}",
            {
                "timezone": "Europe/Berlin",
                "hours": {"mon-fri": ["09:00-17:00"]},
                "holidays": {"country": "DE", "subdivision": subdivision},
            },
        )

    start = local("Europe/Berlin", day.year, day.month, day.day)
    end = local("Europe/Berlin", day.year, day.month, day.day + 1)
    assert state("BY").business_seconds(start, end) == bavaria_hours * H
    assert state("BE").business_seconds(start, end) == berlin_hours * H


def test_explicit_dates_add_to_the_country_calendar() -> None:
    # Christmas Eve (Thursday 2026-12-24) is not in the package's Norway; the policy adds it.
    # Christmas Day (Friday) is in the package. Wednesday 16:00-17:00 gives 1 h; Thursday and
    # Friday are holidays, the weekend is closed; Monday 09:00-10:00 gives the second hour.
    cal = office(holidays={"country": "NO", "dates": ["2026-12-24"]})
    assert cal.due(oslo(2026, 12, 23, 16), 2 * H) == oslo(2026, 12, 28, 10)
    # Without the explicit date, Thursday 09:00-10:00 gives it.
    assert office(holidays={"country": "NO"}).due(oslo(2026, 12, 23, 16), 2 * H) == oslo(
        2026, 12, 24, 10
    )


def test_explicit_dates_may_come_as_dates() -> None:
    # YAML reads an unquoted 2026-03-04 as a date; it means the same as the string.
    as_date = office(holidays={"dates": [date(2026, 3, 4)]})
    as_text = office(holidays={"dates": ["2026-03-04"]})
    assert as_date == as_text
    # Monday-Friday is 40 h; the Wednesday holiday takes 8 h of it.
    assert as_date.business_seconds(oslo(2026, 3, 2), oslo(2026, 3, 9)) == 32 * H


def test_omitted_hours_mean_open_all_week_but_holidays_still_close() -> None:
    cal = build_calendar("all-week", {"timezone": OSLO, "holidays": {"country": "NO"}})
    # Ascension Day, Thursday 2026-05-14, is closed for its whole local day; Friday is open 24 h.
    assert cal.business_seconds(oslo(2026, 5, 14), oslo(2026, 5, 15)) == 0
    assert cal.business_seconds(oslo(2026, 5, 15), oslo(2026, 5, 16)) == 24 * H
    # Wednesday 23:00 + 2 h: 1 h on Wednesday, then Friday 00:00-01:00.
    assert cal.due(oslo(2026, 5, 13, 23), 2 * H) == oslo(2026, 5, 15, 1)


# No calendar: 24/7.


def test_no_calendar_is_always_open() -> None:
    # Saturday 03:00 UTC + 4 h: nothing is ever closed.
    assert ALWAYS_OPEN.due(utc(2026, 3, 7, 3), 4 * H) == utc(2026, 3, 7, 7)
    assert ALWAYS_OPEN.is_open(utc(2026, 3, 7, 3))
    assert ALWAYS_OPEN.next_open(utc(2026, 3, 7, 3)) == utc(2026, 3, 7, 3)
    # Real time, not wall time: Oslo's spring-forward Sunday lasts 23 h here too.
    assert ALWAYS_OPEN.business_seconds(oslo(2026, 3, 29), oslo(2026, 3, 30)) == 23 * H
    # An empty spec is the same calendar under another name.
    assert build_calendar("24/7", {}) == ALWAYS_OPEN


# Exactness.


def test_microseconds_are_kept_not_rounded_to_minutes() -> None:
    cal = office()
    # 09:00:00.000001 to 10:00: one microsecond short of an hour.
    assert cal.business_seconds(oslo(2026, 3, 2, 9, 0, 0, 1), oslo(2026, 3, 2, 10)) == 3599.999999
    # A one-microsecond target from the opening.
    assert cal.due(oslo(2026, 3, 2, 9), 0.000001) == oslo(2026, 3, 2, 9, 0, 0, 1)
    # 90.5 s is not rounded to 1 or 2 minutes.
    assert cal.due(oslo(2026, 3, 2, 9), 90.5) == oslo(2026, 3, 2, 9, 1, 30, 500_000)
    # One microsecond before closing plus two: one on Monday, the other after Tuesday's opening.
    assert cal.due(oslo(2026, 3, 2, 16, 59, 59, 999_999), 0.000002) == oslo(2026, 3, 3, 9, 0, 0, 1)


def test_start_and_end_may_carry_any_offset() -> None:
    cal = office()
    # Monday 10:00 in Oslo (CET, +01:00) is 09:00 UTC and 14:30 in Kolkata (+05:30).
    start = local("Asia/Kolkata", 2026, 3, 2, 14, 30)
    assert cal.due(start, 1 * H) == utc(2026, 3, 2, 10)
    assert cal.business_seconds(utc(2026, 3, 2, 9), oslo(2026, 3, 2, 11)) == 1 * H


# DST: wall-clock hours meet real time.


def sundays(zone: str, interval: str) -> Calendar:
    return build_calendar("sundays", {"timezone": zone, "hours": {"sun": [interval]}})


def test_a_whole_day_lasts_23_hours_when_clocks_spring_forward() -> None:
    cal = sundays(OSLO, "00:00-24:00")
    # Sunday 2026-03-29: 00:00 CET (+01:00) = Saturday 23:00 UTC; 24:00 = Monday 00:00 CEST
    # (+02:00) = Sunday 22:00 UTC. That is 23 h.
    assert cal.business_seconds(oslo(2026, 3, 23), oslo(2026, 3, 30)) == 23 * H
    assert cal.due(oslo(2026, 3, 28, 12), 23 * H) == utc(2026, 3, 29, 22)
    # One more hour is due an hour into the next Sunday, 2026-04-05 01:00 CEST.
    assert cal.due(oslo(2026, 3, 28, 12), 24 * H) == oslo(2026, 4, 5, 1)


def test_a_whole_day_lasts_25_hours_when_clocks_fall_back() -> None:
    cal = sundays(OSLO, "00:00-24:00")
    # Sunday 2026-10-25: 00:00 CEST (+02:00) = Saturday 22:00 UTC; 24:00 = Monday 00:00 CET
    # (+01:00) = Sunday 23:00 UTC. That is 25 h.
    assert cal.business_seconds(oslo(2026, 10, 19), oslo(2026, 10, 26)) == 25 * H
    assert cal.due(oslo(2026, 10, 24, 12), 25 * H) == utc(2026, 10, 25, 23)


def test_a_start_that_does_not_exist_opens_when_the_clock_jumps() -> None:
    # On 2026-03-29 Oslo's clock jumps from 02:00 CET to 03:00 CEST at 01:00 UTC, so 02:30 never
    # happens. The rule (sla_core._weekly): a missing wall time resolves to the jump. 02:30-04:00
    # opens at 01:00 UTC and closes at 04:00 CEST = 02:00 UTC: 1 h instead of 1.5 h.
    cal = sundays(OSLO, "02:30-04:00")
    assert cal.business_seconds(oslo(2026, 3, 29), oslo(2026, 3, 30)) == 1 * H
    assert cal.next_open(oslo(2026, 3, 29)) == utc(2026, 3, 29, 1)
    # A week earlier, an ordinary Sunday: 1.5 h.
    assert cal.business_seconds(oslo(2026, 3, 22), oslo(2026, 3, 23)) == 1.5 * H


def test_an_end_that_does_not_exist_closes_when_the_clock_jumps() -> None:
    # 00:00-02:30 on the same night: 00:00 CET = Saturday 23:00 UTC to the jump at 01:00 UTC: 2 h.
    cal = sundays(OSLO, "00:00-02:30")
    assert cal.business_seconds(oslo(2026, 3, 29), oslo(2026, 3, 30)) == 2 * H
    assert cal.due(oslo(2026, 3, 29), 2 * H) == utc(2026, 3, 29, 1)


def test_an_interval_wholly_in_the_gap_is_empty() -> None:
    # 02:15-02:45 never happens on 2026-03-29: that Sunday is closed, the next one has 30 min.
    cal = sundays(OSLO, "02:15-02:45")
    assert cal.business_seconds(oslo(2026, 3, 29), oslo(2026, 3, 30)) == 0
    assert cal.next_open(oslo(2026, 3, 29)) == oslo(2026, 4, 5, 2, 15)


def test_an_end_that_happens_twice_takes_its_second_reading() -> None:
    # On 2026-10-25 Oslo's clock falls back from 03:00 CEST to 02:00 CET at 01:00 UTC, so 02:30
    # happens at 00:30 UTC and again at 01:30 UTC. An end takes the later reading: 00:00-02:30
    # runs from Saturday 22:00 UTC to 01:30 UTC, 3.5 h (the rule's own example in _weekly).
    cal = sundays(OSLO, "00:00-02:30")
    assert cal.business_seconds(oslo(2026, 10, 25), oslo(2026, 10, 26)) == 3.5 * H
    assert cal.due(oslo(2026, 10, 25), 3.5 * H) == utc(2026, 10, 25, 1, 30)


def test_a_start_that_happens_twice_takes_its_first_reading() -> None:
    # 02:30-04:00 on the same night starts at the first 02:30 (00:30 UTC) and ends at 04:00 CET
    # (03:00 UTC): 2.5 h.
    cal = sundays(OSLO, "02:30-04:00")
    assert cal.business_seconds(oslo(2026, 10, 25), oslo(2026, 10, 26)) == 2.5 * H
    assert cal.next_open(oslo(2026, 10, 25)) == utc(2026, 10, 25, 0, 30)


def test_intervals_touching_on_a_repeated_wall_time_count_their_overlap_once() -> None:
    cal = build_calendar(
        "shifts", {"timezone": OSLO, "hours": {"sat": ["22:00-02:30"], "sun": ["02:30-06:00"]}}
    )
    # Saturday 22:00 CEST = 20:00 UTC to the second 02:30 (01:30 UTC), and Sunday from the first
    # 02:30 (00:30 UTC) to 06:00 CET = 05:00 UTC. Their union is 20:00-05:00 UTC: 9 h, not the
    # 10 h of adding them (00:30-01:30 UTC is in both).
    assert cal.business_seconds(oslo(2026, 10, 24), oslo(2026, 10, 26)) == 9 * H
    # An ordinary weekend: 4.5 h + 3.5 h = 8 h.
    assert cal.business_seconds(oslo(2026, 10, 17), oslo(2026, 10, 19)) == 8 * H


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        # Sunday 2026-04-05 the clock falls back from 02:00 (+11:00) to 01:30 (+10:30): 24.5 h.
        (date(2026, 4, 5), 24.5),
        # Sunday 2026-10-04 it springs forward from 02:00 (+10:30) to 02:30 (+11:00): 23.5 h.
        (date(2026, 10, 4), 23.5),
        # An ordinary Sunday between them: 24 h.
        (date(2026, 6, 7), 24),
    ],
)
def test_lord_howe_shifts_by_30_minutes(day: date, hours: float) -> None:
    zone = "Australia/Lord_Howe"
    cal = sundays(zone, "00:00-24:00")
    start = local(zone, day.year, day.month, day.day)
    end = local(zone, day.year, day.month, day.day + 1)
    assert cal.business_seconds(start, end) == hours * H


def test_lord_howe_nonexistent_start_opens_at_the_jump() -> None:
    # On 2026-10-04 02:00 (+10:30) jumps to 02:30 (+11:00) at Saturday 15:30 UTC; 02:15 never
    # happens, so 02:15-03:00 opens at 15:30 UTC and closes at 03:00 (+11:00) = 16:00 UTC.
    cal = sundays("Australia/Lord_Howe", "02:15-03:00")
    assert cal.next_open(utc(2026, 10, 3, 12)) == utc(2026, 10, 3, 15, 30)
    assert cal.due(utc(2026, 10, 3, 12), 0.5 * H) == utc(2026, 10, 3, 16)


def test_kathmandu_is_five_hours_forty_five_ahead() -> None:
    cal = build_calendar(
        "ktm", {"timezone": "Asia/Kathmandu", "hours": {"mon-fri": ["09:00-17:00"]}}
    )
    # Monday 09:00 at +05:45 is 03:15 UTC; closing 17:00 is 11:15 UTC.
    assert cal.next_open(utc(2026, 3, 2)) == utc(2026, 3, 2, 3, 15)
    assert cal.due(utc(2026, 3, 2), 1 * H) == utc(2026, 3, 2, 4, 15)
    assert cal.due(utc(2026, 3, 2), 8 * H) == utc(2026, 3, 2, 11, 15)
    # 11:00 UTC is 16:45 there (open); 11:15 UTC is the closing (closed).
    assert cal.is_open(utc(2026, 3, 2, 11))
    assert not cal.is_open(utc(2026, 3, 2, 11, 15))


# Pauses.


def test_a_pause_in_open_hours_shifts_the_due_by_its_length() -> None:
    cal = office()
    # Monday 09:00 + 4 h is 13:00; a 30-minute pause at 10:00 moves it to 13:30.
    start = oslo(2026, 3, 2, 9)
    assert cal.due(start, 4 * H) == oslo(2026, 3, 2, 13)
    pause = (oslo(2026, 3, 2, 10), oslo(2026, 3, 2, 10, 30))
    assert cal.due(start, 4 * H, pauses=[pause]) == oslo(2026, 3, 2, 13, 30)
    assert cal.business_seconds(start, oslo(2026, 3, 2, 13, 30), pauses=[pause]) == 4 * H


def test_a_pause_in_closed_hours_changes_nothing() -> None:
    cal = office()
    # Friday 16:00 + 4 h is Monday 12:00 (the seeds example); a weekend pause does not move it.
    weekend = (oslo(2026, 3, 6, 18), oslo(2026, 3, 9, 8))
    assert cal.due(oslo(2026, 3, 6, 16), 4 * H, pauses=[weekend]) == oslo(2026, 3, 9, 12)
    assert cal.business_seconds(oslo(2026, 3, 6, 16), oslo(2026, 3, 9, 12), pauses=[weekend]) == (
        4 * H
    )


def test_only_the_open_part_of_a_pause_counts() -> None:
    cal = office()
    # A pause from 08:00 to 09:30 holds back only 09:00-09:30: 13:00 becomes 13:30.
    pause = (oslo(2026, 3, 2, 8), oslo(2026, 3, 2, 9, 30))
    assert cal.due(oslo(2026, 3, 2, 9), 4 * H, pauses=[pause]) == oslo(2026, 3, 2, 13, 30)
    # A pause over the closing: Monday 09:00-16:00 gives 7 h, paused until Tuesday 10:00, then
    # the last hour ends at 11:00.
    overnight = (oslo(2026, 3, 2, 16), oslo(2026, 3, 3, 10))
    assert cal.due(oslo(2026, 3, 2, 9), 8 * H, pauses=[overnight]) == oslo(2026, 3, 3, 11)


def test_overlapping_pauses_count_once() -> None:
    cal = office()
    # 10:00-11:00 and 10:30-11:30 together cover 10:00-11:30: 1.5 h, not 2 h. 13:00 + 1.5 h.
    pauses = [
        (oslo(2026, 3, 2, 10, 30), oslo(2026, 3, 2, 11, 30)),
        (oslo(2026, 3, 2, 10), oslo(2026, 3, 2, 11)),
    ]
    assert cal.due(oslo(2026, 3, 2, 9), 4 * H, pauses=pauses) == oslo(2026, 3, 2, 14, 30)
    # The day's 8 h less 1.5 h paused.
    assert cal.business_seconds(oslo(2026, 3, 2), oslo(2026, 3, 3), pauses=pauses) == 6.5 * H
    # The same pause given twice is one pause.
    twice = [(oslo(2026, 3, 2, 10), oslo(2026, 3, 2, 11))] * 2
    assert cal.due(oslo(2026, 3, 2, 9), 4 * H, pauses=twice) == oslo(2026, 3, 2, 14)


def test_a_target_reached_as_a_pause_begins_is_due_then() -> None:
    cal = office()
    # 09:00 + 4 h = 13:00, which is when the pause starts: it is reached in time, due 13:00.
    pause = (oslo(2026, 3, 2, 13), oslo(2026, 3, 2, 14))
    assert cal.due(oslo(2026, 3, 2, 9), 4 * H, pauses=[pause]) == oslo(2026, 3, 2, 13)
    # A zero target needs an unpaused instant: a ticket created at 13:00 starts at 14:00.
    assert cal.due(oslo(2026, 3, 2, 13), 0, pauses=[pause]) == oslo(2026, 3, 2, 14)


# Calendars that are refused, with a message naming the calendar and what is wrong.


def refused(hours: dict[str, list[str]], message: str) -> None:
    with pytest.raises(CalendarError, match=re.escape(message)):
        build_calendar("office", {"timezone": OSLO, "hours": hours})


def test_an_end_before_the_start_is_overnight_not_an_error() -> None:
    # Any end earlier than the start runs into the next day: 17:00-09:00 is 16 h.
    cal = office(hours={"mon": ["17:00-09:00"]})
    assert cal.business_seconds(oslo(2026, 3, 2), oslo(2026, 3, 4)) == 16 * H
    assert cal.is_open(oslo(2026, 3, 3, 8))


def test_an_interval_ending_as_it_starts_is_refused() -> None:
    refused({"mon": ["09:00-09:00"]}, "calendar 'office': interval '09:00-09:00' is empty")


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        (
            {"mon": ["09:00-12:00", "11:00-17:00"]},
            "calendar 'office': interval '09:00-12:00' on mon overlaps '11:00-17:00' on mon",
        ),
        (  # the same interval twice, from a range and a single day
            {"mon-fri": ["09:00-17:00"], "wed": ["09:00-17:00"]},
            "calendar 'office': interval '09:00-17:00' on wed overlaps '09:00-17:00' on wed",
        ),
        (  # Friday night's shift runs into Saturday's morning
            {"fri": ["22:00-06:00"], "sat": ["05:00-10:00"]},
            "calendar 'office': interval '22:00-06:00' on fri overlaps '05:00-10:00' on sat",
        ),
        (  # Sunday night's shift runs into Monday's morning, across the week's end
            {"sun": ["22:00-06:00"], "mon": ["05:00-10:00"]},
            "calendar 'office': interval '22:00-06:00' on sun overlaps '05:00-10:00' on mon",
        ),
    ],
)
def test_overlapping_intervals_are_refused(hours: dict[str, list[str]], message: str) -> None:
    refused(hours, message)


@pytest.mark.parametrize(
    ("interval", "message"),
    [
        ("25:00-26:00", "calendar 'office': cannot parse interval '25:00-26:00' (no such time)"),
        ("09:60-10:00", "calendar 'office': cannot parse interval '09:60-10:00' (no such time)"),
        ("24:30-01:00", "calendar 'office': cannot parse interval '24:30-01:00' (no such time)"),
        ("24:00-06:00", "calendar 'office': interval '24:00-06:00' starts at 24:00"),
        ("9-17", "calendar 'office': cannot parse interval '9-17'"),
        ("09:00", "calendar 'office': cannot parse interval '09:00'"),
    ],
)
def test_unreadable_intervals_are_refused(interval: str, message: str) -> None:
    refused({"mon": [interval]}, message)


def test_an_unknown_day_name_is_refused() -> None:
    refused({"mon-fry": ["09:00-17:00"]}, "calendar 'office': unknown day name 'mon-fry'")


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(CalendarError, match=re.escape("'office': unknown time zone 'Europe/Olso'")):
        office(timezone="Europe/Olso")


def test_an_unknown_country_is_refused() -> None:
    with pytest.raises(
        CalendarError, match=re.escape("'office': unknown holiday country/subdivision 'XX'/None")
    ):
        office(holidays={"country": "XX"})


def test_an_unknown_subdivision_is_refused() -> None:
    with pytest.raises(
        CalendarError, match=re.escape("'office': unknown holiday country/subdivision 'DE'/'XX'")
    ):
        office(holidays={"country": "DE", "subdivision": "XX"})


def test_a_subdivision_without_a_country_is_refused() -> None:
    with pytest.raises(CalendarError, match=re.escape("'office': holiday subdivision 'NY' needs")):
        office(holidays={"subdivision": "NY"})


def test_an_unreadable_holiday_date_is_refused() -> None:
    with pytest.raises(
        CalendarError, match=re.escape("'office': cannot parse holiday date '2026-02-30'")
    ):
        office(holidays={"dates": ["2026-02-30"]})


@pytest.mark.parametrize("hours", [{}, {"mon-fri": []}])
def test_a_week_without_open_hours_cannot_reach_a_target(hours: dict[str, list[str]]) -> None:
    # `hours: {}` lists no interval on any day (omitting `hours` would mean open all week).
    cal = office(hours=hours)
    assert cal.business_seconds(oslo(2026, 3, 2), oslo(2026, 3, 9)) == 0
    with pytest.raises(CalendarError, match=re.escape("calendar 'office' has no open hours")):
        cal.due(oslo(2026, 3, 2), 1 * H)
    with pytest.raises(CalendarError, match=re.escape("calendar 'office' has no open hours")):
        cal.next_open(oslo(2026, 3, 2))


@pytest.mark.parametrize("target", [-1.0, float("nan"), float("inf")])
def test_a_target_must_be_finite_and_not_negative(target: float) -> None:
    with pytest.raises(CalendarError, match=re.escape("calendar 'office': target must be finite")):
        office().due(oslo(2026, 3, 2), target)


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(TypeError, match=re.escape("calendar 'office': needs an aware datetime")):
        office().due(datetime(2026, 3, 2, 9), 1 * H)


# Overrides: local dates whose hours replace the week's (SPEC section 8). December 2026:
# Wednesday 23, Thursday 24, Friday 25, Saturday 26, Sunday 27, Monday 28 ... Thursday 31.


def test_a_half_day() -> None:
    cal = office(overrides={"2026-12-23": ["09:00-12:00"]})
    # Created Wednesday 11:00 on the half day with a 4 h target: 11:00-12:00 gives 1 h, the
    # afternoon is closed; Thursday, the next working day, 09:00-12:00 gives the other 3 h. So it
    # is due Thursday 12:00 (not 10:00: only 1 h of the 4 fits in the half day).
    assert cal.due(oslo(2026, 12, 23, 11), 4 * H) == oslo(2026, 12, 24, 12)
    assert cal.business_seconds(oslo(2026, 12, 23), oslo(2026, 12, 24)) == 3 * H
    assert not cal.is_open(oslo(2026, 12, 23, 13))
    # A target reached at the half day's closing is due at 12:00.
    assert cal.due(oslo(2026, 12, 23, 11), 1 * H) == oslo(2026, 12, 23, 12)
    assert cal.next_open(oslo(2026, 12, 23, 12)) == oslo(2026, 12, 24, 9)


def test_an_extra_saturday() -> None:
    cal = office(overrides={"2026-11-28": ["10:00-14:00"]})
    # Friday 16:00 + 4 h: Friday 16:00-17:00 gives 1 h, Saturday 10:00-13:00 the other 3 h.
    assert cal.due(oslo(2026, 11, 27, 16), 4 * H) == oslo(2026, 11, 28, 13)
    assert cal.is_open(oslo(2026, 11, 28, 10))
    # Only that Saturday: the next one is closed as the week says. Friday 16:00 + 2 h there is
    # Friday's 1 h and Monday 09:00-10:00.
    assert cal.due(oslo(2026, 12, 4, 16), 2 * H) == oslo(2026, 12, 7, 10)
    # The week of the extra Saturday holds 40 h + 4 h.
    assert cal.business_seconds(oslo(2026, 11, 23), oslo(2026, 11, 30)) == 44 * H


def test_a_closure_over_a_range() -> None:
    cal = office(overrides={"2026-12-28..2026-12-30": []})
    # Friday 25 16:00 + 2 h (no holidays in this calendar): Friday gives 1 h; Monday to
    # Wednesday are closed; Thursday 31 09:00-10:00 gives the second hour.
    assert cal.due(oslo(2026, 12, 25, 16), 2 * H) == oslo(2026, 12, 31, 10)
    assert cal.business_seconds(oslo(2026, 12, 28), oslo(2026, 12, 31)) == 0
    assert not cal.is_open(oslo(2026, 12, 29, 12))
    # The range is inclusive: its last date is closed, the day after is open.
    assert cal.next_open(oslo(2026, 12, 28)) == oslo(2026, 12, 31, 9)


def test_a_range_with_hours_opens_a_sunday_too() -> None:
    cal = office(overrides={"2026-12-27..2026-12-30": ["10:00-15:00"]})
    # Sunday 27 to Wednesday 30: four dates of 5 h each; Thursday is back to 8 h.
    assert cal.business_seconds(oslo(2026, 12, 27), oslo(2026, 12, 31)) == 20 * H
    # Saturday 26 12:00 + 6 h: Sunday 10:00-15:00 gives 5 h, Monday 10:00-11:00 the last hour.
    assert cal.due(oslo(2026, 12, 26, 12), 6 * H) == oslo(2026, 12, 28, 11)


def test_an_override_wins_over_a_holiday() -> None:
    holidays = {"country": "NO", "dates": ["2026-12-24"]}
    cal = office(holidays=holidays, overrides={"2026-12-24": ["09:00-12:00"]})
    # Christmas Eve is a holiday, but the override opens it 09:00-12:00. Wednesday 16:00 + 4 h:
    # Wednesday gives 1 h, Thursday 09:00-12:00 the other 3 h.
    assert cal.due(oslo(2026, 12, 23, 16), 4 * H) == oslo(2026, 12, 24, 12)
    assert cal.is_open(oslo(2026, 12, 24, 11))
    # Christmas Day (a package holiday, no override) stays closed; so without the override the
    # same ticket waits for Monday 28: 1 h Wednesday, then 09:00-12:00 on Monday.
    assert not cal.is_open(oslo(2026, 12, 25, 11))
    assert office(holidays=holidays).due(oslo(2026, 12, 23, 16), 4 * H) == oslo(2026, 12, 28, 12)


def test_an_overnight_override_belongs_to_the_date_it_starts_on() -> None:
    # Friday 2026-03-06 becomes a night shift 22:00-06:00 (Saturday has no hours to overlap).
    cal = office(overrides={"2026-03-06": ["22:00-06:00"]})
    assert not cal.is_open(oslo(2026, 3, 6, 12))  # the week's Friday hours are replaced
    assert cal.is_open(oslo(2026, 3, 7, 3))
    # Friday 10:00 + 2 h: nothing until 22:00, so Saturday 00:00.
    assert cal.due(oslo(2026, 3, 6, 10), 2 * H) == oslo(2026, 3, 7)
    assert cal.business_seconds(oslo(2026, 3, 2), oslo(2026, 3, 9)) == (32 + 8) * H


def test_an_override_ending_at_24_00() -> None:
    cal = office(overrides={"2026-03-04": ["18:00-24:00"]})
    # Wednesday 18:00 to Thursday 00:00 is 6 h; Thursday opens at 09:00 as usual.
    assert cal.business_seconds(oslo(2026, 3, 4), oslo(2026, 3, 5)) == 6 * H
    assert cal.due(oslo(2026, 3, 4, 23), 2 * H) == oslo(2026, 3, 5, 10)


def test_overrides_on_dst_days_follow_the_wall_clock_rules() -> None:
    # Sunday 2026-03-29 Oslo springs forward (23 h), Sunday 2026-10-25 falls back (25 h).
    cal = office(
        overrides={
            "2026-03-29": ["00:00-24:00"],
            "2026-10-25": ["00:00-24:00"],
            "2026-04-05": ["02:30-04:00"],
        }
    )
    assert cal.business_seconds(oslo(2026, 3, 29), oslo(2026, 3, 30)) == 23 * H
    assert cal.business_seconds(oslo(2026, 10, 25), oslo(2026, 10, 26)) == 25 * H
    # The spring Sunday opens at 00:00 CET = Saturday 23:00 UTC; 23 h later it closes at
    # Monday 00:00 CEST = Sunday 22:00 UTC.
    assert cal.due(oslo(2026, 3, 28, 12), 23 * H) == utc(2026, 3, 29, 22)
    # An ordinary Sunday's 02:30-04:00 is 1.5 h.
    assert cal.business_seconds(oslo(2026, 4, 5), oslo(2026, 4, 6)) == 1.5 * H


def test_an_override_start_in_the_spring_gap_opens_at_the_jump() -> None:
    # 02:30 never happens on 2026-03-29 in Oslo: 02:30-04:00 opens at the jump (01:00 UTC) and
    # closes at 04:00 CEST = 02:00 UTC, 1 h, as weekly hours do (test above).
    cal = office(overrides={"2026-03-29": ["02:30-04:00"]})
    assert cal.business_seconds(oslo(2026, 3, 29), oslo(2026, 3, 30)) == 1 * H
    assert cal.next_open(oslo(2026, 3, 28, 20)) == utc(2026, 3, 29, 1)


def test_overrides_alone_can_open_a_week_without_hours() -> None:
    cal = office(hours={}, overrides={"2026-03-04": ["10:00-12:00"], "2026-03-11": ["10:00-11:00"]})
    # Monday 2026-03-02 + 2.5 h: Wednesday 10:00-12:00 gives 2 h, the next Wednesday 10:00-10:30.
    assert cal.due(oslo(2026, 3, 2), 2.5 * H) == oslo(2026, 3, 11, 10, 30)
    assert cal.next_open(oslo(2026, 3, 4, 12)) == oslo(2026, 3, 11, 10)
    # After the last override nothing ever opens.
    with pytest.raises(CalendarError, match=re.escape("no open hours after its last override")):
        cal.due(oslo(2026, 3, 11, 10, 30), 1 * H)


def test_override_keys_may_come_as_dates_and_ranges_spell_out_dates() -> None:
    as_date = office(overrides={date(2026, 3, 4): [], date(2026, 3, 5): []})
    as_range = office(overrides={"2026-03-04..2026-03-05": []})
    assert as_date == as_range and hash(as_date) == hash(as_range)
    assert as_range.overrides == ((date(2026, 3, 4), ()), (date(2026, 3, 5), ()))
    # Monday-Friday is 40 h; the closed Wednesday and Thursday take 16 h of it.
    assert as_range.business_seconds(oslo(2026, 3, 2), oslo(2026, 3, 9)) == 24 * H


def test_a_calendar_built_directly_checks_its_overrides() -> None:
    with pytest.raises(CalendarError, match=re.escape("override 2026-03-04 given twice")):
        Calendar("c", OSLO, overrides=((date(2026, 3, 4), ()), (date(2026, 3, 4), ())))
    with pytest.raises(CalendarError, match=re.escape("invalid interval '10:00-09:00'")):
        Calendar("c", OSLO, overrides=((date(2026, 3, 4), ((36_000, 32_400),)),))
    # Given out of order, they are kept sorted: the same value either way.
    a, b = (date(2026, 3, 5), ()), (date(2026, 3, 4), ())
    assert Calendar("c", OSLO, overrides=(a, b)) == Calendar("c", OSLO, overrides=(b, a))


@pytest.mark.parametrize(
    ("overrides", "message", "where"),
    [
        (
            {"2026-12-23": ["09:00-12:00", "11:00-13:00"]},
            "override 2026-12-23: interval '09:00-12:00' overlaps '11:00-13:00'",
            ("overrides", "2026-12-23", 0),
        ),
        (  # Wednesday night runs into Thursday's 09:00-17:00
            {"2026-12-23": ["22:00-10:00"]},
            "override 2026-12-23: interval '22:00-10:00' overlaps '09:00-17:00' "
            "on 2026-12-24 (thu, weekly hours)",
            ("overrides", "2026-12-23", 0),
        ),
        (  # ... or into Thursday's override
            {"2026-12-23": ["08:00-09:00", "22:00-07:00"], "2026-12-24": ["06:00-08:00"]},
            "override 2026-12-23: interval '22:00-07:00' overlaps '06:00-08:00' "
            "on 2026-12-24 (thu, override)",
            ("overrides", "2026-12-23", 1),
        ),
        (  # Sunday night's weekly shift runs into Monday's override
            {"2026-12-28": ["05:00-10:00"]},
            "override 2026-12-28: interval '05:00-10:00' overlaps '22:00-06:00' "
            "on 2026-12-27 (sun, weekly hours)",
            ("overrides", "2026-12-28", 0),
        ),
        (  # the date at fault inside a range is named (its last date runs into Thursday's
            # hours); the path is the range's key
            {"2026-12-26..2026-12-30": ["20:00-10:00"]},
            "override 2026-12-30: interval '20:00-10:00' overlaps '09:00-17:00' "
            "on 2026-12-31 (thu, weekly hours)",
            ("overrides", "2026-12-26..2026-12-30", 0),
        ),
        (
            {"2026-12-30..2026-12-27": []},
            "override range '2026-12-30..2026-12-27' ends before it starts",
            ("overrides", "2026-12-30..2026-12-27"),
        ),
        (
            {"2026-12-27..2026-12-30": [], "2026-12-29": ["10:00-12:00"]},
            "override keys '2026-12-27..2026-12-30' and '2026-12-29' both cover 2026-12-29",
            ("overrides", "2026-12-29"),
        ),
        (
            {"1969-12-31": []},
            "override date '1969-12-31' is outside the years 1970-2200",
            ("overrides", "1969-12-31"),
        ),
        (
            {"2199-12-31..2201-01-01": []},
            "override date '2199-12-31..2201-01-01' is outside the years 1970-2200",
            ("overrides", "2199-12-31..2201-01-01"),
        ),
        (
            {"2026-12-23": ["09:00-12:00", "25:00-26:00"]},
            "cannot parse interval '25:00-26:00' (no such time)",
            ("overrides", "2026-12-23", 1),
        ),
        (
            {"2026-13-01": []},
            "cannot parse override date '2026-13-01'",
            ("overrides", "2026-13-01"),
        ),
        (
            {"2026-12-31": None},
            "override '2026-12-31' must be a list of intervals",
            ("overrides", "2026-12-31"),
        ),
    ],
)
def test_refused_overrides_name_the_value_at_fault(
    overrides: dict[str, Any], message: str, where: tuple[str | int, ...]
) -> None:
    hours = {"mon-fri": ["09:00-17:00"], "sun": ["22:00-06:00"]}
    with pytest.raises(CalendarError, match=re.escape(f"calendar 'office': {message}")) as info:
        office(hours=hours, overrides=overrides)
    assert info.value.where == where


# Time zone from the ticket (SPEC section 8).


def customer_local() -> Calendar:
    return build_calendar(
        "customer-local",
        {
            "timezone": {"from": "customer_timezone", "default": OSLO},
            "hours": {"mon-fri": ["08:00-18:00"]},
        },
    )


def test_a_zone_resolved_from_the_ticket() -> None:
    cal = customer_local()
    choice = cal.resolve({"customer_timezone": "America/Sao_Paulo"})
    assert (choice.zone, choice.source, choice.fallback, choice.invalid_zone) == (
        "America/Sao_Paulo",
        "ticket",
        False,
        None,
    )
    sao_paulo = choice.calendar
    assert (sao_paulo.name, sao_paulo.timezone) == ("customer-local", "America/Sao_Paulo")
    # Monday 2026-03-02 06:00 UTC + 2 h. In Oslo (+01:00) it is 07:00: the day opens at 08:00
    # = 07:00 UTC, due 09:00 UTC. In Sao Paulo (-03:00, no DST since 2019) it is 03:00: the day
    # opens at 08:00 = 11:00 UTC, due 13:00 UTC.
    assert cal.due(utc(2026, 3, 2, 6), 2 * H) == utc(2026, 3, 2, 9)
    assert sao_paulo.due(utc(2026, 3, 2, 6), 2 * H) == utc(2026, 3, 2, 13)
    # The same zone gives the identical calendar, also when rebuilt from the stored zone name.
    assert cal.resolve({"customer_timezone": "America/Sao_Paulo"}).calendar is sao_paulo
    assert cal.in_zone("America/Sao_Paulo") is sao_paulo
    assert sao_paulo.in_zone(OSLO) is cal
    # A variant resolves as the policy calendar does: its default is still Oslo.
    assert sao_paulo.resolve({}).calendar is cal


@pytest.mark.parametrize(
    ("attrs", "invalid"),
    [
        ({"customer_timezone": "America/Sao Paulo"}, "America/Sao Paulo"),
        ({"customer_timezone": "Mars/Olympus_Mons"}, "Mars/Olympus_Mons"),
        ({"customer_timezone": "../etc/passwd"}, "../etc/passwd"),
        ({"customer_timezone": "localtime"}, "localtime"),  # the server's zone, not a place
        ({"customer_timezone": 3}, "3"),
        ({"customer_timezone": ["Europe/Oslo"]}, "['Europe/Oslo']"),
        ({}, None),  # missing
        ({"customer_timezone": None}, None),
        ({"customer_timezone": "  "}, None),
    ],
)
def test_a_bad_or_missing_ticket_zone_falls_back_to_the_default(
    attrs: dict[str, Any], invalid: str | None
) -> None:
    cal = customer_local()
    choice = cal.resolve(attrs)
    assert choice.calendar is cal
    assert (choice.zone, choice.source, choice.fallback, choice.invalid_zone) == (
        OSLO,
        "default",
        True,
        invalid,
    )
    # Asking again gives the same answer (the cache keeps it).
    assert cal.resolve(attrs) == choice


def test_blanks_around_a_ticket_zone_are_ignored() -> None:
    cal = customer_local()
    assert cal.resolve({"customer_timezone": " Asia/Kolkata "}).calendar is cal.in_zone(
        "Asia/Kolkata"
    )


def test_a_fixed_zone_is_the_calendars_own() -> None:
    cal = office()
    choice = cal.resolve({"customer_timezone": "America/Sao_Paulo"})
    assert (choice.calendar, choice.zone, choice.source, choice.fallback) == (
        cal,
        OSLO,
        "calendar",
        False,
    )
    assert choice.calendar is cal and cal.in_zone(OSLO) is cal


def test_a_variant_keeps_overrides_and_holidays_as_local_dates() -> None:
    cal = build_calendar(
        "customer-local",
        {
            "timezone": {"from": "customer_timezone", "default": OSLO},
            "hours": {"mon-fri": ["09:00-17:00"]},
            "overrides": {"2026-12-23": ["09:00-12:00"]},
        },
    )
    kolkata = cal.resolve({"customer_timezone": "Asia/Kolkata"}).calendar
    assert kolkata.overrides == cal.overrides and kolkata != cal
    # Wednesday 09:00-12:00 in Kolkata (+05:30) is 03:30-06:30 UTC.
    assert kolkata.business_seconds(utc(2026, 12, 23), utc(2026, 12, 24)) == 3 * H
    assert kolkata.next_open(utc(2026, 12, 23)) == utc(2026, 12, 23, 3, 30)


def test_an_unknown_zone_is_refused_when_restoring() -> None:
    with pytest.raises(CalendarError, match=re.escape("unknown time zone 'Mars/Olympus_Mons'")):
        customer_local().in_zone("Mars/Olympus_Mons")


@pytest.mark.parametrize(
    ("timezone", "message", "where"),
    [
        (
            {"from": "customer_timezone", "default": "Europe/Olso"},
            "unknown time zone 'Europe/Olso'",
            ("timezone", "default"),
        ),
        ({"from": "customer_timezone"}, "timezone must be an IANA name", ("timezone",)),
        ({"default": OSLO, "form": "x"}, "timezone must be an IANA name", ("timezone",)),
        ("Europe/Olso", "unknown time zone 'Europe/Olso'", ("timezone",)),
    ],
)
def test_refused_time_zones_name_the_value_at_fault(
    timezone: object, message: str, where: tuple[str | int, ...]
) -> None:
    with pytest.raises(CalendarError, match=re.escape(message)) as info:
        office(timezone=timezone)
    assert info.value.where == where
