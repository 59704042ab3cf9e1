"""The time-in-hands report (SPEC section 11): per agent or team, the business seconds they held
timers, the timers they touched and the breaches that happened in their hands.

Read from `sla_segments` joined to `sla_timers`, for the timers started in [start, end). Held
time counts what the segments say: a timer's segments are known once it breached or ended, so a
running timer that has not breached adds nothing yet. Deleted tickets are gone from both tables;
cancelled timers count their held time (someone held them) but cannot breach in anyone's hands
unless they breached before the cancellation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from report_api.queries.sql import Params, any_of, where

HOLDERS = ("agent", "team")
FILTERS = ("department", "level", "metric")


@dataclass(frozen=True)
class HolderRow:
    holder: str | None
    held_seconds: float
    timers: int
    breaches: int


async def ownership(
    conn: asyncpg.Connection,
    *,
    start: datetime,
    end: datetime,
    holder: str,
    filters: Mapping[str, Sequence[str]],
) -> list[HolderRow]:
    """One row per `holder` (agent or team) of the timers started in [start, end) that pass
    `filters`, ordered by holder (no holder last)."""
    if holder not in HOLDERS:
        raise ValueError(f"holder must be one of {HOLDERS}")
    params = Params()
    clauses = [
        f"s.started_at >= {params.add(start, 'timestamptz')}",
        f"s.started_at < {params.add(end, 'timestamptz')}",
        *any_of(params, filters, {f: f"s.{f}" for f in FILTERS}),
    ]
    query = (
        f"WITH t AS (SELECT s.timer_id, s.state, s.breach_{holder} AS breach_holder "
        f"FROM sla_timers s {where(clauses)}), "
        f"u AS (SELECT g.{holder} AS holder, sum(g.business_seconds) AS held, "
        "count(DISTINCT g.timer_id) AS timers, 0 AS breaches "
        "FROM sla_segments g JOIN t USING (timer_id) GROUP BY 1 "
        "UNION ALL SELECT breach_holder, 0, 0, count(*) FROM t "
        "WHERE state IN ('breached', 'missed') GROUP BY 1) "
        "SELECT holder, sum(held) AS held, sum(timers) AS timers, sum(breaches) AS breaches "
        "FROM u GROUP BY 1 ORDER BY 1 NULLS LAST"
    )
    records = await conn.fetch(query, *params.values)
    return [
        HolderRow(r["holder"], float(r["held"]), int(r["timers"]), int(r["breaches"]))
        for r in records
    ]
