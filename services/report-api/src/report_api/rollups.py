"""The compliance rollups: what a timer contributes to the report, and the tables that sum it.

What a timer contributes is defined ONCE, in SQL (`row_stats_sql`), and serves three readers:
the projection's incremental upserts, the recomputation of rollup rows from `sla_timers`, and the
report's reading of raw timers at the unaligned edges of a range. A timer contributes by state:

- `fulfilled`: fulfilled +1 and its business seconds at stop (elapsed_seconds);
- `missed`:    missed +1 and its business seconds at stop;
- `breached`:  missed +1 and no time figure (it is still running);
- `running`, `cancelled` and deleted timers: nothing.

Bucketing. A rollup row sums the timers STARTED in one UTC bucket that share the table's
dimensions. Every IANA zone's offset (and every DST change) is a multiple of 15 minutes, so a
15-minute UTC bucket never straddles a local midnight in any zone: quarter-hour tables can be
re-bucketed into the days, weeks and months of any zone, e.g. Asia/Kathmandu (+05:45) and
Australia/Lord_Howe (+10:30/+11). Hour tables are 4x smaller; an hour that a local midnight
splits (zones with :30/:45 offsets) is read from a quarter table instead (see `buckets.py`).

Corrections. Counts and sums take signed deltas, but min and max cannot be "un-added": when a
timer that had a time figure changes (a corrected miss, a deleted ticket) the rows it counted in
are marked dirty and recomputed from `sla_timers` in the same transaction.

Sums are `numeric`, so that their value does not depend on the order in which timers were
added: a rebuilt projection equals the live one exactly.

Attribution (SPEC section 11). A table with an owner dimension (`agent`, `team`) sums timers as
its `attribute` says: `last`, the timer's last holder, or `at_breach`, for a breached or missed
timer the holder at its due (`breach_agent`, `breach_team`). `owner_sql` is that rule, and the
raw-timer reads of the report use it too. A table without owner dimensions serves both.

Everything that maintains the tables (the migration's backfill aside, which is frozen) is built
from ROLLUPS: adding a table or a dimension here needs no new code where rows are written.
"""

from __future__ import annotations

from dataclasses import dataclass

DIMENSIONS = ("department", "agent", "team", "level", "metric")
OWNER_DIMENSIONS = ("agent", "team")
# The columns of sla_timers a timer's rollup keys are made of, under every attribution.
KEY_COLUMNS = ("department", "agent", "team", "breach_agent", "breach_team", "level", "metric")
BREACH_COUNTED = ("breached", "missed")
COUNTED_STATES = ("fulfilled", "missed", "breached")
# States whose contribution carries a time figure: a change to such a timer dirties its rows.
FIGURE_STATES = frozenset({"fulfilled", "missed"})
STAT_COLUMNS = (
    "fulfilled_count",
    "fulfilled_sum",
    "fulfilled_max",
    "fulfilled_min",
    "missed_count",
    "missed_ended_count",
    "missed_sum",
    "missed_max",
    "missed_min",
)
# How rows of STAT_COLUMNS combine: the same for rollup upserts and for report queries.
_COMBINE = ("sum", "sum", "max", "min", "sum", "sum", "sum", "max", "min")
BUCKET_ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"


def owner_sql(dim: str, attribute: str, row: str) -> str:
    """SQL for the dimension `dim` of a timer row aliased `row` under `attribute`: an owner
    dimension of a breached or missed timer under `at_breach` is its holder at the due."""
    if attribute == "at_breach" and dim in OWNER_DIMENSIONS:
        breached = ", ".join(f"'{s}'" for s in BREACH_COUNTED)
        return f"CASE WHEN {row}.state IN ({breached}) THEN {row}.breach_{dim} ELSE {row}.{dim} END"
    return f"{row}.{dim}"


@dataclass(frozen=True)
class RollupSpec:
    """A rollup table: UTC buckets of `grain_seconds` by the `dims` subset of DIMENSIONS, owner
    dimensions attributed as `attribute` says."""

    table: str
    grain_seconds: int
    dims: tuple[str, ...]
    attribute: str = "last"

    def serves(self, attribute: str) -> bool:
        """Whether this table answers a report under `attribute`."""
        return self.attribute == attribute or not set(self.dims) & set(OWNER_DIMENSIONS)

    def dim_sql(self, dim: str, row: str) -> str:
        """SQL for this table's `dim` of a timer row aliased `row` (with KEY_COLUMNS, state)."""
        return owner_sql(dim, self.attribute, row)

    def bucket_sql(self, timestamp: str) -> str:
        """SQL for the start of the bucket that holds `timestamp`."""
        return f"date_bin(INTERVAL '{self.grain_seconds} seconds', {timestamp}, {BUCKET_ORIGIN})"

    @property
    def key(self) -> tuple[str, ...]:
        return ("bucket", *self.dims)

    @property
    def key_positions(self) -> str:
        """`1, 2, ...` for GROUP BY and ORDER BY over the key selected first: positions, not
        names, because a name would take the input column `agent`, not the attributed alias."""
        return ", ".join(str(i) for i in range(1, len(self.key) + 1))


QUARTER = RollupSpec("rollup_quarter", 900, DIMENSIONS)
QUARTER_AT_BREACH = RollupSpec("rollup_quarter_at_breach", 900, DIMENSIONS, "at_breach")
QUARTER_DEPARTMENT = RollupSpec("rollup_quarter_department", 900, ("department",))
HOUR = RollupSpec("rollup_hour", 3600, ("department", "level", "metric"))
HOUR_DEPARTMENT = RollupSpec("rollup_hour_department", 3600, ("department",))
# Teams by hour, without the other dimensions: a team report with a department, level or metric
# filter reads the quarter tables, which have them all.
HOUR_TEAM = RollupSpec("rollup_hour_team", 3600, ("team",))
HOUR_TEAM_AT_BREACH = RollupSpec("rollup_hour_team_at_breach", 3600, ("team",), "at_breach")
ROLLUPS = (
    QUARTER,
    QUARTER_AT_BREACH,
    QUARTER_DEPARTMENT,
    HOUR,
    HOUR_DEPARTMENT,
    HOUR_TEAM,
    HOUR_TEAM_AT_BREACH,
)


def smallest(grain_seconds: int, needed: set[str], attribute: str = "last") -> RollupSpec | None:
    """The rollup of that grain serving `attribute` with the fewest dimensions that still has
    all `needed`."""
    fitting = [
        r
        for r in ROLLUPS
        if r.grain_seconds == grain_seconds and needed <= set(r.dims) and r.serves(attribute)
    ]
    return min(fitting, key=lambda r: len(r.dims), default=None)


def fill_sql(spec: RollupSpec, into: str | None = None) -> str:
    """INSERT of every row of `spec`, computed from `sla_timers`, into its empty table (or the
    empty table `into` of the same columns)."""
    key = ", ".join(spec.key)
    dims = ", ".join(f"{spec.dim_sql(d, 's')} AS {d}" for d in spec.dims)
    counted = ", ".join(f"'{s}'" for s in COUNTED_STATES)
    return (
        f"INSERT INTO {into or spec.table} ({key}, {', '.join(STAT_COLUMNS)}) "
        f"SELECT {spec.bucket_sql('s.started_at')}, {dims}, {', '.join(combine_sql())} FROM ("
        f"SELECT s.*, {row_stats_sql('s.state', 's.elapsed_seconds')} FROM sla_timers s "
        f"WHERE s.state IN ({counted})) s GROUP BY {spec.key_positions}"
    )


def row_stats_sql(state: str = "state", elapsed: str = "elapsed_seconds", sign: str = "1") -> str:
    """The STAT_COLUMNS of ONE timer as SQL select expressions.

    `sign` is -1 for the projection's removal of a timer's previous contribution; removals carry
    no time figures, because a removed figure dirties its rows, which are then recomputed."""
    fulfilled = f"{state} = 'fulfilled'"
    missed_ended = f"{state} = 'missed'"
    missed = f"{state} IN ('missed', 'breached')"
    adds = f"{sign} > 0"
    return ", ".join(
        [
            f"CASE WHEN {fulfilled} THEN {sign} ELSE 0 END AS fulfilled_count",
            f"CASE WHEN {fulfilled} AND {adds} THEN {elapsed}::numeric END AS fulfilled_sum",
            f"CASE WHEN {fulfilled} AND {adds} THEN {elapsed} END AS fulfilled_max",
            f"CASE WHEN {fulfilled} AND {adds} THEN {elapsed} END AS fulfilled_min",
            f"CASE WHEN {missed} THEN {sign} ELSE 0 END AS missed_count",
            f"CASE WHEN {missed_ended} THEN {sign} ELSE 0 END AS missed_ended_count",
            f"CASE WHEN {missed_ended} AND {adds} THEN {elapsed}::numeric END AS missed_sum",
            f"CASE WHEN {missed_ended} AND {adds} THEN {elapsed} END AS missed_max",
            f"CASE WHEN {missed_ended} AND {adds} THEN {elapsed} END AS missed_min",
        ]
    )


def combine_sql(prefix: str = "") -> list[str]:
    """Aggregates that combine rows of STAT_COLUMNS (rollup rows or row_stats rows)."""
    out = []
    for column, how in zip(STAT_COLUMNS, _COMBINE, strict=True):
        expr = f"{how}({prefix}{column})"
        if column.endswith("_sum"):
            expr = f"COALESCE({expr}, 0)"
        out.append(f"{expr} AS {column}")
    return out


def upsert_set_sql(table: str) -> str:
    """ON CONFLICT DO UPDATE assignments that add a delta row to a stored rollup row."""
    parts = []
    for column, how in zip(STAT_COLUMNS, _COMBINE, strict=True):
        if how == "sum":
            parts.append(f"{column} = {table}.{column} + excluded.{column}")
        else:
            func = "greatest" if how == "max" else "least"  # both ignore NULLs
            parts.append(f"{column} = {func}({table}.{column}, excluded.{column})")
    return ", ".join(parts)
