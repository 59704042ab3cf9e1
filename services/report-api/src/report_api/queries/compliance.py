"""The compliance report: fulfilled and missed SLAs by local date, week, month and dimensions.

Read from the rollups (see `rollups.py` and `buckets.py`): whole UTC hours from the smallest hour
rollup that has the dimensions asked for, 15-minute buckets where a local midnight splits an hour,
and the raw timers only for the parts of the range finer than 15 minutes. All three are combined
with the same aggregates and grouped by the local calendar of `tz`.

Ownership (SPEC section 11). `attribute=at_breach` counts a breached or missed timer for the
agent and team that held the ticket at its due (`breach_agent`, `breach_team`) rather than its
last ones. Rollup tables with an owner dimension exist for each attribution (`RollupSpec.serves`),
and the raw-timer edges apply the same rule (`rollups.owner_sql`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from report_api.buckets import (
    HOUR_SECONDS,
    QUARTER_SECONDS,
    Range,
    Segments,
    local_day_starts,
    segments,
)
from report_api.queries.sql import Params, any_of, where
from report_api.rollups import (
    COUNTED_STATES,
    DIMENSIONS,
    STAT_COLUMNS,
    RollupSpec,
    combine_sql,
    owner_sql,
    row_stats_sql,
    smallest,
)

TIME_KEYS = ("date", "week", "month")
GROUP_KEYS = (*TIME_KEYS, *DIMENSIONS)
FILTERS = DIMENSIONS


def _time_key_sql(key: str, t: str, tz: str) -> str:
    local = f"({t} AT TIME ZONE {tz})"
    return {
        "date": f"{local}::date",
        "week": f"date_trunc('week', {local})::date",  # ISO weeks start on Monday
        "month": f"to_char({local}, 'YYYY-MM')",
    }[key]


@dataclass
class Figures:
    """The combined STAT_COLUMNS of a group (sums exact, as numeric)."""

    fulfilled_count: int = 0
    fulfilled_sum: Decimal = Decimal(0)
    fulfilled_max: float | None = None
    fulfilled_min: float | None = None
    missed_count: int = 0
    missed_ended_count: int = 0
    missed_sum: Decimal = Decimal(0)
    missed_max: float | None = None
    missed_min: float | None = None

    def add(self, other: Figures) -> None:
        self.fulfilled_count += other.fulfilled_count
        self.fulfilled_sum += other.fulfilled_sum
        self.fulfilled_max = _pick(max, self.fulfilled_max, other.fulfilled_max)
        self.fulfilled_min = _pick(min, self.fulfilled_min, other.fulfilled_min)
        self.missed_count += other.missed_count
        self.missed_ended_count += other.missed_ended_count
        self.missed_sum += other.missed_sum
        self.missed_max = _pick(max, self.missed_max, other.missed_max)
        self.missed_min = _pick(min, self.missed_min, other.missed_min)

    def as_report(self) -> dict[str, Any]:
        """The figures as the report shows them (averages to the millisecond)."""
        counted = self.fulfilled_count + self.missed_count
        return {
            "fulfilled": self.fulfilled_count,
            "fulfilled_avg_seconds": _avg(self.fulfilled_sum, self.fulfilled_count),
            "fulfilled_max_seconds": self.fulfilled_max,
            "fulfilled_min_seconds": self.fulfilled_min,
            "missed": self.missed_count,
            "missed_avg_seconds": _avg(self.missed_sum, self.missed_ended_count),
            "missed_max_seconds": self.missed_max,
            "missed_min_seconds": self.missed_min,
            "compliance_ratio": round(self.fulfilled_count / counted, 4) if counted else None,
        }


def _pick(fn: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else fn(a, b)


def _avg(total: Decimal, count: int) -> float | None:
    return round(float(total / count), 3) if count else None


@dataclass
class ComplianceResult:
    rows: list[tuple[dict[str, Any], Figures]]  # (group keys, figures), ordered by the keys
    totals: Figures


def _branch(
    params: Params,
    *,
    source: str,
    t: str,
    stats: str,
    ranges: list[Range],
    dims: Sequence[str],
    filters: Mapping[str, Sequence[str]],
    extra: Sequence[str] = (),
    columns: Mapping[str, str] | None = None,
) -> str:
    """Rows of `source` whose `t` lies in one of `ranges`, one index range scan per range.

    A plain join of the ranges to the table would leave the planner guessing how many rows each
    range holds; it then scans the whole table (0.3 s at 1,000,000 timers to return a few rows).
    The LATERAL subquery, kept from being flattened into a join by OFFSET 0, is run once per range
    with its bounds as parameters of an index scan on `t`."""
    sql = columns or {d: f"s.{d}" for d in DIMENSIONS}
    lo = params.add([r[0] for r in ranges], "timestamptz[]")
    hi = params.add([r[1] for r in ranges], "timestamptz[]")
    clauses = [
        f"{t} >= g.lo",
        f"{t} < g.hi",
        *extra,
        *any_of(params, filters, sql),
    ]
    selected = ", ".join([f"{t} AS t", *(f"{sql[d]} AS {d}" for d in dims), stats])
    return (
        f"SELECT x.* FROM unnest({lo}, {hi}) AS g(lo, hi) CROSS JOIN LATERAL "
        f"(SELECT {selected} FROM {source} s {where(clauses)} OFFSET 0) x"
    )


async def compliance(
    conn: asyncpg.Connection,
    *,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]],
    attribute: str = "last",
    timers: str = "sla_timers",
) -> ComplianceResult:
    """Groups of timers started in [start, end), by `group_by`, with `filters` (dimension ->
    accepted values), a missed timer's agent and team as `attribute` says. Groups without a
    fulfilled or missed timer are left out.

    `timers` names another table of timer rows (the what-if's candidate timers, with the columns
    the report reads): it is read raw over the whole range, as the projection's raw timers are,
    since no rollup sums it."""
    dims = [k for k in group_by if k in FILTERS]
    needed = set(dims) | {name for name, values in filters.items() if values}
    boundaries = local_day_starts(start, end, zone) if set(group_by) & set(TIME_KEYS) else []
    raw_only = timers != "sla_timers"  # a what-if's candidate timers have no rollups
    hour_table = None if raw_only else smallest(HOUR_SECONDS, needed, attribute)
    quarter_table = None if raw_only else smallest(QUARTER_SECONDS, needed, attribute)
    assert raw_only or quarter_table is not None  # the quarter rollups have every dimension
    parts = segments(start, end, boundaries, hours=hour_table is not None)
    if raw_only:
        parts = Segments(hour=[], quarter=[], raw=[(start, end)])
    params = Params()
    # Only bound when a time key uses it: an unused parameter has no type and fails to prepare.
    tz = params.add(zone.key, "text") if boundaries or set(group_by) & set(TIME_KEYS) else ""
    stats = ", ".join(STAT_COLUMNS)
    branches = []
    sources: list[tuple[RollupSpec | None, list[Range]]] = [
        (hour_table, parts.hour),
        (quarter_table, parts.quarter),
    ]
    for spec, ranges in sources:
        if spec is not None and ranges:
            branches.append(
                _branch(
                    params,
                    source=spec.table,
                    t="s.bucket",
                    stats=stats,
                    ranges=ranges,
                    dims=dims,
                    filters=filters,
                )
            )
    if parts.raw:
        counted = ", ".join(f"'{s}'" for s in COUNTED_STATES)
        branches.append(
            _branch(
                params,
                source=timers,
                t="s.started_at",
                stats=row_stats_sql("s.state", "s.elapsed_seconds"),
                ranges=parts.raw,
                dims=dims,
                filters=filters,
                extra=[f"s.state IN ({counted})"],
                columns={d: owner_sql(d, attribute, "s") for d in FILTERS},
            )
        )
    keys = [_time_key_sql(k, "u.t", tz) if k in TIME_KEYS else f"u.{k}" for k in group_by]
    selected = ", ".join(f"{expr} AS {name}" for expr, name in zip(keys, group_by, strict=True))
    order = ", ".join(str(i) for i in range(1, len(group_by) + 1))
    query = (
        f"SELECT {selected}, {', '.join(combine_sql('u.'))} "
        f"FROM ({' UNION ALL '.join(branches)}) u "
        f"GROUP BY {order} HAVING sum(u.fulfilled_count) + sum(u.missed_count) > 0 "
        f"ORDER BY {order}"
    )
    records = await conn.fetch(query, *params.values)
    totals = Figures()
    rows = []
    for record in records:
        # sum() of bigint is numeric in PostgreSQL: counts come back as Decimal
        values: dict[str, Any] = {
            c: int(record[c]) if c.endswith("_count") else record[c] for c in STAT_COLUMNS
        }
        figures = Figures(**values)
        totals.add(figures)
        group = {k: record[k] for k in group_by}
        rows.append((group, figures))
    return ComplianceResult(rows=rows, totals=totals)


def group_value(value: Any) -> Any:
    """A group key as JSON and CSV show it (dates as YYYY-MM-DD)."""
    return value.isoformat() if isinstance(value, date) else value
