"""Property tests of sla_core.calendar against an oracle, plus the laws business time obeys.

The oracle is deliberately naive and shares no code with the calendar: it resolves every interval
of every local date in a range to UTC from the definition (a wall time resolves to the instants
whose local reading it is; a missing wall time to the first instant whose reading passes it),
takes the union of all of them, and walks that list. No caches of the calendar, no closed forms.
A date's intervals are its override's if it has one, else none on a holiday, else the week's.

Scenarios mix weekly hours, holidays and overrides (single dates, ranges, closures, overnight and
small-hours intervals, often on DST change days), in zones with whole, 30- and 45-minute offsets
and DST shifts of 30 minutes or at midnight (America/Sao_Paulo before 2019). Some scenarios take
the zone from a ticket: the calendar under test is then a variant from `Calendar.resolve`.

Comparisons with the oracle stay within about 60 days (and a few ranges of a year); long targets
are checked with laws only. Runs are derandomized so CI is reproducible.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_core.calendar import Calendar, CalendarError, build_calendar

US = 1_000_000
DAY = 86_400
WEEK = 7 * DAY
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# zone: (holiday country, subdivision, first year, last year) of the scenarios' centres
ZONES = {
    "Europe/Oslo": ("NO", None, 2024, 2027),
    "America/New_York": ("US", "NY", 2024, 2027),
    "America/Sao_Paulo": ("BR", None, 2015, 2018),  # DST until 2019, clocks jumped at midnight
    "Australia/Lord_Howe": ("AU", "NSW", 2024, 2027),  # DST shifts by 30 minutes
    "Australia/Adelaide": ("AU", "SA", 2024, 2027),  # +09:30, +10:30 in summer
    "Asia/Kathmandu": ("NP", None, 2024, 2027),  # +05:45
    "Asia/Kolkata": ("IN", None, 2024, 2027),  # +05:30
    "UTC": ("GB", "ENG", 2024, 2027),
}


def year_us(year: int) -> int:
    return int((datetime(year, 1, 1, tzinfo=UTC) - EPOCH).total_seconds()) * US


def profile(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def to_us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def to_dt(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


# The oracle.


@dataclass(frozen=True)
class Model:
    zone: str
    week: tuple[
        tuple[tuple[int, int], ...], ...
    ]  # per weekday: (start, end) seconds, end may pass 24h
    country: str | None
    subdivision: str | None
    dates: frozenset[date]
    overrides: tuple[tuple[date, tuple[tuple[int, int], ...]], ...] = ()


@lru_cache(maxsize=64)
def package_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))


def is_holiday(model: Model, day: date) -> bool:
    if day in model.dates:
        return True
    return model.country is not None and day in package_holidays(
        model.country, model.subdivision, day.year
    )


def offset_us(zone: ZoneInfo, us: int) -> int:
    off = to_dt(us).astimezone(zone).utcoffset()
    assert off is not None
    return off // timedelta(microseconds=1)


def wall_us(zone: ZoneInfo, us: int) -> int:
    """The local wall reading of an instant, as microseconds of a naive epoch."""
    return us + offset_us(zone, us)


def resolve(zone: ZoneInfo, wall: int, *, start: bool) -> int:
    """Starts take the first instant reading `wall`, ends the last; a missing `wall` resolves to
    the first instant whose reading is past it (zones here jump on whole minutes)."""
    offsets = {offset_us(zone, wall + k * 3600 * US) for k in (-26, 0, 26)}
    readers = sorted(wall - o for o in offsets if wall_us(zone, wall - o) == wall)
    if readers:
        return readers[0] if start else readers[-1]
    minute = 60 * US
    u = (wall - max(offsets)) // minute * minute
    while wall_us(zone, u) <= wall:
        u += minute
    return u


@lru_cache(maxsize=100_000)
def oracle_day(model: Model, ordinal: int) -> tuple[tuple[int, int], ...]:
    day = date.fromordinal(ordinal)
    wall = dict(model.overrides).get(day)
    if wall is None:
        if is_holiday(model, day):
            return ()
        wall = model.week[day.weekday()]
    zone = ZoneInfo(model.zone)
    midnight = to_us(datetime.combine(day, time(), tzinfo=UTC))
    spans = []
    for s, e in wall:
        a = resolve(zone, midnight + s * US, start=True)
        b = resolve(zone, midnight + e * US, start=False)
        if b > a:
            spans.append((a, b))
    return tuple(spans)


def oracle_union(model: Model, first: int, last: int) -> list[tuple[int, int]]:
    """Union of the intervals of local dates first..last (ordinals), sorted and disjoint."""
    spans = sorted(s for o in range(first, last + 1) for s in oracle_day(model, o))
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def local_ordinal(model: Model, us: int) -> int:
    return to_dt(us).astimezone(ZoneInfo(model.zone)).toordinal()


def oracle_business(model: Model, a: int, b: int) -> int:
    if b <= a:
        return 0
    spans = oracle_union(model, local_ordinal(model, a) - 3, local_ordinal(model, b) + 1)
    return sum(max(0, min(e, b) - max(s, a)) for s, e in spans)


def oracle_due(model: Model, a: int, target: int) -> int:
    first = local_ordinal(model, a) - 3
    horizon = 16
    while True:
        remaining = target
        for s, e in oracle_union(model, first, first + horizon):
            if e <= a:
                continue
            s = max(s, a)
            if remaining <= e - s:
                # Trust the answer only well before the dates not generated yet.
                if local_ordinal(model, s + remaining) < first + horizon - 2:
                    return s + remaining
                break
            remaining -= e - s
        horizon *= 2


def oracle_is_open(model: Model, at: int) -> bool:
    lo = local_ordinal(model, at)
    return any(s <= at < e for s, e in oracle_union(model, lo - 3, lo + 1))


# Strategies.


def fmt(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}" if s else f"{h:02d}:{m:02d}"


@lru_cache(maxsize=8)
def offset_changes(zone_name: str) -> tuple[int, ...]:
    zone = ZoneInfo(zone_name)
    found = []
    step = DAY * US  # a day's precision is plenty: tests pick instants days around these
    first, last = ZONES[zone_name][2:]
    for u in range(year_us(first), year_us(last + 1), step):
        if offset_us(zone, u) != offset_us(zone, u + step):
            found.append(u + step)
    return tuple(found)


def week_hours(rng: random.Random) -> tuple[tuple[tuple[int, int], ...], ...] | None:
    """Weekly hours from a seeded generator (one draw keeps example generation cheap): office
    hours, night shifts, whole days, or random intervals that may cross midnight and the week's
    end; None is "hours omitted"."""
    kind = rng.choice(["office", "shifts", "whole_days", "random", "random", "always"])
    if kind == "always":
        return None
    if kind == "office":
        week: list[list[tuple[int, int]]] = [[(9 * 3600, 17 * 3600)] for _ in range(5)]
        week += [[(10 * 3600, 14 * 3600)] if rng.random() < 0.5 else [], []]
    elif kind == "shifts":
        begin, end = rng.choice([(22, 6), (23, 3), (1, 2.5), (20, 2), (2.5, 3)])
        spans = [(int(begin * 3600), int((end + (24 if end < begin else 0)) * 3600))]
        if begin >= 20:
            spans.insert(0, (8 * 3600, 16 * 3600))
        week = [list(spans) for _ in range(7)]
    elif kind == "whole_days":
        days = rng.sample(range(7), rng.randint(1, 7))
        week = [[(0, DAY)] if d in days else [] for d in range(7)]
    else:
        grid = rng.choice([900, 1800, 1])
        small_hours = rng.random() < 0.5  # the small hours (22:00-04:00), where clocks change
        n = rng.randint(1, 6)
        if small_hours:
            # The k-th slot of the small hours, without listing them (a second's grid has 151,200)
            early, per_day = 4 * 3600 // grid, 6 * 3600 // grid
            picked = rng.sample(range(7 * per_day), 2 * n)
            slots = [
                d * DAY // grid + (r if r < early else 22 * 3600 // grid + r - early)
                for d, r in (divmod(k, per_day) for k in picked)
            ]
        else:
            slots = rng.sample(range(WEEK // grid), 2 * n)
        points = sorted(p * grid for p in slots)
        if rng.random() < 0.5:  # one interval wraps round the end of the week
            points = [*points[1:], points[0] + WEEK]
        if rng.random() < 0.5:  # intervals that touch end to start
            pairs = [(p, q) for p, q in itertools.pairwise(points) if rng.random() < 0.7]
        else:
            pairs = list(zip(points[::2], points[1::2], strict=True))
        week = [[] for _ in range(7)]
        for p, q in pairs:
            start = p % DAY
            length = min(q - p, DAY if start == 0 else DAY - grid)
            week[(p // DAY) % 7].append((start, start + length))
        if not any(week):  # every pair was left out: keep one, a week with no hours is refused
            start = points[0] % DAY
            week[(points[0] // DAY) % 7].append((start, start + grid))
    return tuple(tuple(sorted(d)) for d in week)


@dataclass(frozen=True)
class Scenario:
    """A calendar, its oracle model and a centre instant that tests pick their instants around."""

    calendar: Calendar
    model: Model
    centre: int
    spec: dict[str, object]

    def __repr__(self) -> str:
        return f"Scenario(centre={to_dt(self.centre).isoformat()}, spec={self.spec!r})"


def interval_text(span: tuple[int, int]) -> str:
    s, e = span
    return f"{fmt(s)}-{fmt(e if e <= DAY else e - DAY)}"


def override_hours(rng: random.Random) -> tuple[tuple[int, int], ...]:
    """One override's intervals: closed, office, half days, whole days, overnight, the small
    hours where clocks change, or random ones on a grid (the last may run overnight)."""
    kind = rng.choice(["closed", "office", "whole", "overnight", "small", "random", "random"])
    h = 3600
    if kind == "closed":
        return ()
    if kind == "office":
        return rng.choice([((9 * h, 17 * h),), ((9 * h, 12 * h),), ((10 * h, 14 * h),)])
    if kind == "whole":
        return ((0, DAY),)
    if kind == "overnight":
        return rng.choice([((22 * h, 30 * h),), ((23 * h, 27 * h),), ((20 * h, DAY + h // 2),)])
    if kind == "small":
        return rng.choice([((0, 5 * h // 2),), ((5 * h // 2, 4 * h),), ((h, 3 * h),), ((0, h),)])
    grid = rng.choice([900, 1])
    points = sorted(p * grid for p in rng.sample(range(DAY // grid), 2 * rng.randint(1, 3)))
    spans = list(zip(points[::2], points[1::2], strict=True))
    if rng.random() < 0.3:  # the last one runs into the next date
        start = spans[-1][0]
        spans[-1] = (start, start + rng.randint(1, DAY // grid - 1) * grid)
    return tuple(spans)


def make_overrides(
    rng: random.Random, centre_day: int
) -> dict[str, tuple[date, date, tuple[tuple[int, int], ...]]]:
    """Overrides by key: dates near the centre (which is often a clock change), some ranges."""
    found: dict[str, tuple[date, date, tuple[tuple[int, int], ...]]] = {}
    taken: set[int] = set()
    for _ in range(rng.randint(1, 8)):
        near_centre = rng.random() < 0.5
        first = centre_day + (rng.randint(-3, 3) if near_centre else rng.randint(-20, 40))
        last = first + (rng.randint(1, 6) if rng.random() < 0.3 else 0)
        if taken & set(range(first, last + 1)):
            continue
        taken |= set(range(first, last + 1))
        a, b = date.fromordinal(first), date.fromordinal(last)
        key = a.isoformat() if a == b else f"{a.isoformat()}..{b.isoformat()}"
        found[key] = (a, b, override_hours(rng))
    return found


def make_scenario(
    zone: str, seed: int, with_holidays: bool, with_overrides: bool = False
) -> Scenario:
    rng = random.Random(seed)
    changes = offset_changes(zone)
    country, subdivision, first_year, last_year = ZONES[zone]
    if changes and rng.random() < 0.5:
        centre = rng.choice(changes) + rng.randint(-3 * DAY * US, 3 * DAY * US)
    else:
        centre = rng.randint(
            year_us(first_year) + 90 * DAY * US, year_us(last_year) - 90 * DAY * US
        )
    week = week_hours(rng)
    if not with_holidays:
        country, subdivision = None, None
    centre_day = local_ordinal(Model(zone, (), None, None, frozenset()), centre)
    dates = frozenset(
        date.fromordinal(centre_day + rng.randint(-20, 40)) for _ in range(rng.randint(0, 6))
    )
    from_ticket = rng.random() < 0.3
    spec: dict[str, object] = {
        "timezone": {"from": "tz", "default": "UTC"} if from_ticket else zone
    }
    if week is not None:
        hours: dict[str, list[str]] = {}
        for d, spans in enumerate(week):
            hours[DAY_NAMES[d]] = [interval_text(span) for span in spans]
        spec["hours"] = hours
    spec["holidays"] = {
        "country": country,
        "subdivision": subdivision,
        "dates": [d.isoformat() for d in sorted(dates)],
    }
    with_overrides = rng.random() < 0.6 or with_overrides
    overrides = make_overrides(rng, centre_day) if with_overrides else {}
    while True:
        spec["overrides"] = {
            key: [interval_text(span) for span in spans] for key, (_, _, spans) in overrides.items()
        }
        try:
            calendar = build_calendar("prop", spec)
            break
        except CalendarError as exc:  # an override that overlaps a neighbour: leave it out
            assert exc.where[:1] == ("overrides",), exc
            del overrides[str(exc.where[1])]
    if from_ticket:
        calendar = calendar.resolve({"tz": zone}).calendar
        assert calendar.timezone == zone
    per_date = tuple(
        (date.fromordinal(o), spans)
        for a, b, spans in overrides.values()
        for o in range(a.toordinal(), b.toordinal() + 1)
    )
    model = Model(
        zone, week or ((((0, DAY),),) * 7), country, subdivision, dates, tuple(sorted(per_date))
    )
    return Scenario(calendar, model, centre, spec)


# Strategies are built once and draw plain integers; the tests turn them into instants and
# targets for their scenario. (Building strategies per example costs more than the tests.)
scenarios = st.builds(
    make_scenario, st.sampled_from(sorted(ZONES)), st.integers(0, 2**32 - 1), st.booleans()
)
overridden_scenarios = st.builds(
    make_scenario,
    st.sampled_from(sorted(ZONES)),
    st.integers(0, 2**32 - 1),
    st.booleans(),
    st.just(True),
)
# A place: a raw offset and how to snap it (0: as is; 1, 2: onto a local quarter hour, where
# intervals begin and end, earlier or later reading; 3, 4: a microsecond before or after one).
# Half the spots stay within two days of the centre (which is often a clock change).
spots = st.tuples(st.integers(-(2**62), 2**62), st.integers(0, 4), st.booleans())
Spot = tuple[int, int, bool]
TargetDraw = tuple[int, int]
# A target: its kind (0: zero; 1: whole quarter hours; 2: any microsecond) and a raw value.
target_draws = st.tuples(st.integers(0, 2), st.integers(0, 2**62))


def near(scenario: Scenario, days: int, spot: Spot) -> int:
    """The instant a drawn spot stands for: within `days` of the scenario's centre."""
    raw, snap, close = spot
    reach = min(days, 2 if close else days) * DAY * US
    u = scenario.centre + raw % (2 * reach + 1) - reach
    if snap == 0:
        return u
    zone = ZoneInfo(scenario.model.zone)
    wall = wall_us(zone, u) // (900 * US) * (900 * US)
    return resolve(zone, wall, start=snap != 2) + {1: 0, 2: 0, 3: -1, 4: 1}[snap]


def target_us(scenario: Scenario, max_weeks: int, drawn: TargetDraw) -> int:
    """A target up to max_weeks of the calendar's weekly open time."""
    kind, raw = drawn
    weekly = sum(e - s for d in scenario.model.week for s, e in d) * US
    top = max(weekly * max_weeks, 1)
    quarter = 900 * US
    return (0, raw % (top // quarter + 1) * quarter, raw % (top + 1))[kind]


def cal_dt(us: int, zone: str) -> datetime:
    """An aware datetime of the instant, in some zone: callers may pass any offset."""
    return to_dt(us).astimezone(ZoneInfo(zone))


# Against the oracle.


@given(scenarios, spots, spots, st.booleans())
@profile(2500)
def test_business_seconds_matches_oracle(
    scenario: Scenario, spot_a: Spot, spot_b: Spot, short: bool
) -> None:
    a = near(scenario, 30, spot_a)
    b = a + spot_b[0] % (3 * DAY * US) if short else near(scenario, 30, spot_b)
    got = scenario.calendar.business_seconds(cal_dt(a, "UTC"), cal_dt(b, scenario.model.zone))
    assert round(got * US) == oracle_business(scenario.model, a, b), (to_dt(a), to_dt(b))


@given(scenarios, spots, target_draws)
@profile(2500)
def test_due_matches_oracle(scenario: Scenario, spot: Spot, drawn: TargetDraw) -> None:
    a = near(scenario, 20, spot)
    target = target_us(scenario, 6, drawn)
    due = scenario.calendar.due(cal_dt(a, "Asia/Kathmandu"), target / US)
    assert due.tzinfo is UTC
    assert to_us(due) == oracle_due(scenario.model, a, target), (to_dt(a), target)


@given(scenarios, spots)
@profile(1500)
def test_is_open_and_next_open_match_oracle(scenario: Scenario, spot: Spot) -> None:
    at = near(scenario, 20, spot)
    calendar, model = scenario.calendar, scenario.model
    assert calendar.is_open(cal_dt(at, model.zone)) == oracle_is_open(model, at), to_dt(at)
    assert to_us(calendar.next_open(cal_dt(at, "UTC"))) == oracle_due(model, at, 0), to_dt(at)


@given(scenarios, spots, st.integers(60 * DAY * US, 400 * DAY * US))
@profile(150)
def test_year_long_ranges_match_oracle(scenario: Scenario, spot: Spot, length: int) -> None:
    a = near(scenario, 5, spot)
    b = a + length
    got = scenario.calendar.business_seconds(cal_dt(a, "UTC"), cal_dt(b, "UTC"))
    assert round(got * US) == oracle_business(scenario.model, a, b), (to_dt(a), to_dt(b))


@given(overridden_scenarios, st.integers(0, 2**62), spots, target_draws)
@profile(1500)
def test_around_overridden_dates_everything_matches_oracle(
    scenario: Scenario, pick: int, spot: Spot, drawn: TargetDraw
) -> None:
    """Instants on, just before and just after an overridden date (often a DST day), with
    targets that end before, on and after it."""
    model = scenario.model
    if not model.overrides:  # every override overlapped a neighbour and was left out
        return
    day, _ = model.overrides[pick % len(model.overrides)]
    zone = ZoneInfo(model.zone)
    midnight = resolve(zone, to_us(datetime.combine(day, time(), tzinfo=UTC)), start=True)
    a = midnight + spot[0] % (5 * DAY * US) - 2 * DAY * US
    if spot[1]:
        wall = wall_us(zone, a) // (900 * US) * (900 * US)
        a = resolve(zone, wall, start=spot[2]) + (spot[1] - 2) // 2
    b = a + pick % (4 * DAY * US)
    calendar = scenario.calendar
    got = calendar.business_seconds(to_dt(a), to_dt(b))
    assert round(got * US) == oracle_business(model, a, b), (to_dt(a), to_dt(b))
    assert calendar.is_open(to_dt(a)) == oracle_is_open(model, a), to_dt(a)
    target = target_us(scenario, 2, drawn)
    assert to_us(calendar.due(to_dt(a), target / US)) == oracle_due(model, a, target), (
        to_dt(a),
        target,
    )


# Laws, with long targets.


@given(scenarios, spots, target_draws)
@profile(1000)
def test_due_inverts_business_seconds_and_is_earliest(
    scenario: Scenario, spot: Spot, drawn: TargetDraw
) -> None:
    calendar = scenario.calendar
    a = near(scenario, 30, spot)
    target = target_us(scenario, 110, drawn)
    start = cal_dt(a, scenario.model.zone)
    due = calendar.due(start, target / US)
    assert abs(calendar.business_seconds(start, due) - target / US) <= 1e-6
    before = due - timedelta(microseconds=1)
    if target == 0:
        assert calendar.is_open(due)
        assert to_us(due) == a or not calendar.is_open(before)
    else:
        # Never strictly inside a closed period: open, or exactly at a closing.
        assert calendar.is_open(before)
        assert calendar.business_seconds(start, before) < target / US


@given(scenarios, spots, spots, spots)
@profile(1000)
def test_business_seconds_is_additive(
    scenario: Scenario, spot_a: Spot, spot_b: Spot, spot_c: Spot
) -> None:
    calendar = scenario.calendar
    a, b, c = sorted(to_dt(near(scenario, 400, spot)) for spot in (spot_a, spot_b, spot_c))
    ab, bc = calendar.business_seconds(a, b), calendar.business_seconds(b, c)
    assert abs(calendar.business_seconds(a, c) - (ab + bc)) <= 1e-6
    assert calendar.business_seconds(c, a) == 0.0


@given(scenarios, spots, spots, target_draws, target_draws)
@profile(1000)
def test_due_is_monotonic(
    scenario: Scenario,
    spot_1: Spot,
    spot_2: Spot,
    drawn_1: TargetDraw,
    drawn_2: TargetDraw,
) -> None:
    calendar = scenario.calendar
    a1, a2 = sorted(to_dt(near(scenario, 30, spot)) for spot in (spot_1, spot_2))
    s1, s2 = sorted(target_us(scenario, 60, drawn) / US for drawn in (drawn_1, drawn_2))
    assert calendar.due(a1, s1) <= calendar.due(a2, s1)
    assert calendar.due(a1, s1) <= calendar.due(a1, s2)


@given(
    scenarios,
    spots,
    st.integers(0, 20 * DAY * US),
    st.lists(st.tuples(spots, st.integers(0, 4 * DAY * US)), max_size=4),
    target_draws,
)
@profile(1000)
def test_pauses_leave_out_business_time_inside_them(
    scenario: Scenario,
    spot: Spot,
    length: int,
    drawn_pauses: list[tuple[Spot, int]],
    drawn_target: TargetDraw,
) -> None:
    calendar, model = scenario.calendar, scenario.model
    a = near(scenario, 10, spot)
    b = a + length
    raw = [(ps, ps + n) for ps, n in ((near(scenario, 12, p), n) for p, n in drawn_pauses)]
    pauses = [(to_dt(ps), to_dt(pe)) for ps, pe in raw]
    merged: list[tuple[int, int]] = []
    for ps, pe in sorted((max(ps, a), min(pe, b)) for ps, pe in raw):
        if pe <= ps:
            continue
        if merged and ps <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], pe))
        else:
            merged.append((ps, pe))
    paused = sum(oracle_business(model, ps, pe) for ps, pe in merged)
    got = calendar.business_seconds(to_dt(a), to_dt(b), pauses)
    assert round(got * US) == oracle_business(model, a, b) - paused
    # And due with the same pauses is where that business time is reached, never paused.
    target = target_us(scenario, 4, drawn_target)
    due = calendar.due(to_dt(a), target / US, pauses)
    assert abs(calendar.business_seconds(to_dt(a), due, pauses) - target / US) <= 1e-6
    last = to_us(due) - 1 if target else to_us(due)
    assert not any(ps <= last < pe for ps, pe in raw)
    assert oracle_is_open(model, last)
