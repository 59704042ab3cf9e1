"""Business time: due computations against `businesstimedelta`, and cost against target length.

Both libraries get the same calendar (Mon-Fri 09:00-17:00 UTC, US public holidays) and the same
inputs: start instants spread over 2026, targets of 1 to 40 business hours in whole minutes. The
dues are compared, so a fast wrong answer would show as mismatches in the details.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time

import businesstimedelta
import holidays

from bench.harness import Goal, Metric, Profile, interleaved_rates
from sla_core.calendar import Calendar, build_calendar

METRICS = ("due_vs_businesstimedelta", "due_cost_365d_vs_1h")
SPEC = {"timezone": "UTC", "hours": {"mon-fri": ["09:00-17:00"]}, "holidays": {"country": "US"}}
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)


def office_calendar() -> Calendar:
    return build_calendar("office", SPEC)


def office_rule() -> businesstimedelta.Rules:
    workday = businesstimedelta.WorkDayRule(
        start_time=wall_time(9), end_time=wall_time(17), working_days=[0, 1, 2, 3, 4]
    )
    holiday = businesstimedelta.HolidayRule(
        holidays.country_holidays("US", years=range(2025, 2031))
    )
    return businesstimedelta.Rules([workday, holiday])


def inputs(count: int, seed: int = 7) -> list[tuple[datetime, int]]:
    """(start, target seconds): starts anywhere in 2026 to the second, targets 1-40 h in minutes."""
    rng = random.Random(seed)
    year_s = 365 * 86_400
    return [
        (YEAR_START + timedelta(seconds=rng.randrange(year_s)), 60 * rng.randint(60, 2400))
        for _ in range(count)
    ]


def ours(calendar: Calendar, cases: list[tuple[datetime, int]]) -> list[datetime]:
    due = calendar.due
    return [due(start, target) for start, target in cases]


def theirs(rule: businesstimedelta.Rules, cases: list[tuple[datetime, int]]) -> list[datetime]:
    delta = businesstimedelta.BusinessTimeDelta
    return [start + delta(rule, seconds=target) for start, target in cases]


def mismatches(a: list[datetime], b: list[datetime]) -> int:
    return sum(1 for x, y in zip(a, b, strict=True) if x != y)


def bench_vs_businesstimedelta(profile: Profile) -> Metric:
    calendar, rule = office_calendar(), office_rule()
    cases = inputs(profile.due_inputs)
    # warm both (holiday years, caches) and check they agree before timing anything
    wrong = mismatches(ours(calendar, cases), theirs(rule, cases))
    rates = interleaved_rates(
        {
            "ours": lambda: len(ours(calendar, cases)),
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
            "mismatched_dues": wrong,
            "ours_runs": [round(r) for r in our_runs],
            "reference_runs": [round(r) for r in their_runs],
        },
    )


def cost_per_due_us(
    calendar: Calendar, starts: list[datetime], target_s: float, repeats: int
) -> float:
    runs = []
    for _ in range(repeats):
        began = time.perf_counter()
        for start in starts:
            calendar.due(start, target_s)
        runs.append((time.perf_counter() - began) / len(starts) * 1e6)
    return statistics.median(runs)


def bench_cost_by_target(profile: Profile) -> Metric:
    calendar = office_calendar()
    starts = [start for start, _ in inputs(max(profile.due_inputs // 4, 100), seed=11)]
    targets = {"1h": 3600.0, "8h": 8 * 3600.0, "30d": 30 * 86_400.0, "365d": 365 * 86_400.0}
    for target in targets.values():  # warm: every holiday year the targets reach
        for start in starts:
            calendar.due(start, target)
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
            "calendar": "Mon-Fri 09-17 UTC, US holidays",
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
