"""Business time: due computations against `businesstimedelta`, and cost against target length.

Both libraries get the same week (Mon-Fri 09:00-17:00, US public holidays) and the same inputs:
start instants spread over 2026, targets of 1 to 40 business hours in whole minutes. Our side
carries more than theirs: 50 overrides a year (half days, closures, extra Saturdays, closed
ranges) over every year the dues reach, and a zone per ticket, resolved for each due from the
ticket's attribute (`Calendar.resolve`, as the engine does when a timer starts).
businesstimedelta cannot express either: its rules are a weekly WorkDayRule and whole-day
HolidayRules, with no per-date hours and one zone. So it stays the speed reference on the plain
UTC calendar, where both are run on the same cases and their dues compared (a fast wrong answer
would show as mismatches); ours with overrides and zones is checked against the oracle of
tests/unit/test_calendar_properties.py on a sample of the same cases instead.
"""

from __future__ import annotations

import importlib.util
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from types import ModuleType
from typing import Any

import businesstimedelta
import holidays

from bench.harness import Goal, Metric, Profile, interleaved_rates
from sla_core.calendar import Calendar, build_calendar

METRICS = ("due_vs_businesstimedelta", "due_cost_365d_vs_1h")
SPEC = {"timezone": "UTC", "hours": {"mon-fri": ["09:00-17:00"]}, "holidays": {"country": "US"}}
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
# Starts lie in 2026; a 365-day business target (about 4.2 calendar years of a 40 h week) reaches
# into 2030, so the overrides cover 2025-2032.
OVERRIDE_YEARS = range(2025, 2033)
OVERRIDES_A_YEAR = 50
TICKET_ZONES = ("UTC", "Europe/Oslo", "America/Sao_Paulo", "Asia/Kolkata", "Australia/Adelaide")
Case = tuple[datetime, int, dict[str, Any]]  # start, target seconds, ticket attributes


def office_calendar() -> Calendar:
    return build_calendar("office", SPEC)


def overrides_spec(seed: int = 5) -> dict[str, list[str]]:
    """50 override keys a year: half days, closed days, extra Saturdays, closed 2-3 day ranges."""
    rng = random.Random(seed)
    out: dict[str, list[str]] = {}
    for year in OVERRIDE_YEARS:
        first, days = date(year, 1, 1).toordinal(), date(year + 1, 1, 1).toordinal()
        taken: set[int] = set()
        while sum(1 for key in out if key.startswith(str(year))) < OVERRIDES_A_YEAR:
            o = rng.randrange(first, days - 3)
            kind = rng.choice(["half", "closed", "saturday", "range"])
            span = range(o, o + rng.randint(2, 3)) if kind == "range" else range(o, o + 1)
            if taken & set(range(span[0] - 1, span[-1] + 2)):
                continue  # keep keys apart, so no two cover one date
            taken |= set(span)
            day = date.fromordinal(o)
            if kind == "saturday":
                day += timedelta(days=(5 - day.weekday()) % 7)
                if day.toordinal() in taken or day.year != year:
                    continue
                taken.add(day.toordinal())
            key = day.isoformat()
            if kind == "range":
                key += ".." + date.fromordinal(span[-1]).isoformat()
            out[key] = {"half": ["09:00-12:00"], "saturday": ["10:00-14:00"]}.get(kind, [])
    return out


def zoned_calendar() -> Calendar:
    """The office week and US holidays, with the overrides, in the ticket's zone (default UTC)."""
    spec = SPEC | {
        "timezone": {"from": "customer_timezone", "default": "UTC"},
        "overrides": overrides_spec(),
    }
    return build_calendar("office", spec)


def office_rule() -> businesstimedelta.Rules:
    workday = businesstimedelta.WorkDayRule(
        start_time=wall_time(9), end_time=wall_time(17), working_days=[0, 1, 2, 3, 4]
    )
    holiday = businesstimedelta.HolidayRule(
        holidays.country_holidays("US", years=range(2025, 2031))
    )
    return businesstimedelta.Rules([workday, holiday])


def inputs(count: int, seed: int = 7) -> list[Case]:
    """Starts anywhere in 2026 to the second, targets 1-40 h in minutes, a ticket zone each."""
    rng = random.Random(seed)
    year_s = 365 * 86_400
    return [
        (
            YEAR_START + timedelta(seconds=rng.randrange(year_s)),
            60 * rng.randint(60, 2400),
            {"customer_timezone": rng.choice(TICKET_ZONES)},
        )
        for _ in range(count)
    ]


def ours(calendar: Calendar, cases: list[Case]) -> list[datetime]:
    """Each due in the zone its ticket names, resolved per case as a timer start does."""
    resolve = calendar.resolve
    return [resolve(attrs).calendar.due(start, target) for start, target, attrs in cases]


def theirs(rule: businesstimedelta.Rules, cases: list[Case]) -> list[datetime]:
    delta = businesstimedelta.BusinessTimeDelta
    return [start + delta(rule, seconds=target) for start, target, _ in cases]


def oracle_module() -> ModuleType:
    """The naive oracle of the calendar's property tests (it needs hypothesis, a dev dependency)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "unit" / "test_calendar_properties.py"
    spec = importlib.util.spec_from_file_location("calendar_oracle", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def oracle_mismatches(calendar: Calendar, cases: list[Case]) -> int:
    """How many of our dues (overrides, ticket zones) differ from the oracle's."""
    oracle = oracle_module()
    wrong = 0
    for start, target, attrs in cases:
        variant = calendar.resolve(attrs).calendar
        week = tuple(((9 * 3600, 17 * 3600),) if d < 5 else () for d in range(7))
        model = oracle.Model(variant.timezone, week, "US", None, frozenset(), variant.overrides)
        a = oracle.to_us(start)
        expected = oracle.oracle_due(model, a, target * 1_000_000)
        wrong += oracle.to_us(variant.due(start, target)) != expected
    return wrong


def mismatches(a: list[datetime], b: list[datetime]) -> int:
    return sum(1 for x, y in zip(a, b, strict=True) if x != y)


def bench_vs_businesstimedelta(profile: Profile) -> Metric:
    plain, zoned, rule = office_calendar(), zoned_calendar(), office_rule()
    cases = inputs(profile.due_inputs)
    # warm both (holiday years, caches, zone variants) and check them before timing anything:
    # the plain calendar against businesstimedelta, ours with overrides against the oracle
    utc_cases = [(start, target, {}) for start, target, _ in cases]
    wrong = mismatches(ours(plain, utc_cases), theirs(rule, cases))
    ours(zoned, cases)
    wrong_vs_oracle = oracle_mismatches(zoned, cases[: max(len(cases) // 100, 50)])
    rates = interleaved_rates(
        {
            "ours": lambda: len(ours(zoned, cases)),
            "businesstimedelta": lambda: len(theirs(rule, cases)),
        },
        profile.repeats,
    )
    value, our_runs = rates["ours"]
    reference, their_runs = rates["businesstimedelta"]
    return Metric(
        name="due_vs_businesstimedelta",
        value=value,
        unit="dues/s",
        reference=reference,
        reference_label="businesstimedelta dues/s",
        goal=Goal("ratio", ">=", 20),
        details={
            "inputs": len(cases),
            "repeats": profile.repeats,
            "ours": f"{OVERRIDES_A_YEAR} overrides a year, zone per ticket of {len(TICKET_ZONES)}",
            "theirs": "plain Mon-Fri 09-17 UTC, US holidays (no overrides or zones possible)",
            "mismatched_dues_plain_vs_businesstimedelta": wrong,
            "oracle_checked": max(len(cases) // 100, 50),
            "mismatched_dues_vs_oracle": wrong_vs_oracle,
            "ours_runs": [round(r) for r in our_runs],
            "reference_runs": [round(r) for r in their_runs],
        },
    )


def cost_per_due_us(
    calendar: Calendar,
    starts: list[tuple[datetime, dict[str, Any]]],
    target_s: float,
    repeats: int,
) -> float:
    runs = []
    resolve = calendar.resolve
    for _ in range(repeats):
        began = time.perf_counter()
        for start, attrs in starts:
            resolve(attrs).calendar.due(start, target_s)
        runs.append((time.perf_counter() - began) / len(starts) * 1e6)
    return statistics.median(runs)


def bench_cost_by_target(profile: Profile) -> Metric:
    calendar = zoned_calendar()
    cases = inputs(max(profile.due_inputs // 4, 100), seed=11)
    starts = [(start, attrs) for start, _, attrs in cases]
    targets = {"1h": 3600.0, "8h": 8 * 3600.0, "30d": 30 * 86_400.0, "365d": 365 * 86_400.0}
    for target in targets.values():  # warm: every holiday year the targets reach, every zone
        for start, attrs in starts:
            calendar.resolve(attrs).calendar.due(start, target)
    costs = {
        label: cost_per_due_us(calendar, starts, target, profile.repeats)
        for label, target in targets.items()
    }
    return Metric(
        name="due_cost_365d_vs_1h",
        value=costs["365d"],
        unit="us/due",
        reference=costs["1h"],
        reference_label="us/due at a 1 h target",
        goal=Goal("ratio", "<=", 3),
        details={
            "calendar": f"Mon-Fri 09-17, US holidays, {OVERRIDES_A_YEAR} overrides a year "
            f"{OVERRIDE_YEARS[0]}-{OVERRIDE_YEARS[-1]}, zone per ticket of {len(TICKET_ZONES)}",
            "starts": len(starts),
            **{f"us_per_due_{k}": round(v, 2) for k, v in costs.items()},
        },
    )


def run(profile: Profile, wanted: set[str]) -> list[Metric]:
    out = []
    if "due_vs_businesstimedelta" in wanted:
        out.append(bench_vs_businesstimedelta(profile))
    if "due_cost_365d_vs_1h" in wanted:
        out.append(bench_cost_by_target(profile))
    return out
