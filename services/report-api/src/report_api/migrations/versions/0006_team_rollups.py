"""Compliance rollups by team, and by the holder at the breach; the SLA log sorted by team.

Revision ID: 0006
Revises: 0005 (ownership)
Create Date: 2026-12-01

- `rollup_quarter` gains the `team` dimension (its rows split by team: recomputed here).
- `rollup_quarter_at_breach`: the same dimensions, a breached or missed timer counted for its
  holder at the due (`breach_agent`, `breach_team`), any other for its last holder.
- `rollup_hour_team` and `rollup_hour_team_at_breach`: whole hours by team alone.
- `sla_timers_team`: the SLA log's `team` sort key, ending in timer_id like the others.

The tables are filled from `sla_timers` with the definitions of this revision, written out here
(like 0001's DDL) so that the revision stays what it was when `rollups.py` changes. The projection
then maintains them; a rebuild migrates an empty schema and projects every event into it.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NOT_NULL_DIMS = {"level", "metric"}
QUARTER_DIMS = ("department", "agent", "team", "level", "metric")
NEW_ROLLUPS = {
    "rollup_quarter_at_breach": (900, QUARTER_DIMS, "at_breach"),
    "rollup_hour_team": (3600, ("team",), "last"),
    "rollup_hour_team_at_breach": (3600, ("team",), "at_breach"),
}
# What one timer contributes (rollups.row_stats_sql as of this revision).
ROW_STATS = """
CASE WHEN s.state = 'fulfilled' THEN 1 ELSE 0 END AS fulfilled_count,
CASE WHEN s.state = 'fulfilled' THEN s.elapsed_seconds::numeric END AS fulfilled_sum,
CASE WHEN s.state = 'fulfilled' THEN s.elapsed_seconds END AS fulfilled_max,
CASE WHEN s.state = 'fulfilled' THEN s.elapsed_seconds END AS fulfilled_min,
CASE WHEN s.state IN ('missed', 'breached') THEN 1 ELSE 0 END AS missed_count,
CASE WHEN s.state = 'missed' THEN 1 ELSE 0 END AS missed_ended_count,
CASE WHEN s.state = 'missed' THEN s.elapsed_seconds::numeric END AS missed_sum,
CASE WHEN s.state = 'missed' THEN s.elapsed_seconds END AS missed_max,
CASE WHEN s.state = 'missed' THEN s.elapsed_seconds END AS missed_min
"""
COMBINE = """
sum(fulfilled_count), COALESCE(sum(fulfilled_sum), 0), max(fulfilled_max), min(fulfilled_min),
sum(missed_count), sum(missed_ended_count), COALESCE(sum(missed_sum), 0), max(missed_max),
min(missed_min)
"""
STATS = (
    "fulfilled_count, fulfilled_sum, fulfilled_max, fulfilled_min, missed_count, "
    "missed_ended_count, missed_sum, missed_max, missed_min"
)


def _dim(dim: str, attribute: str) -> str:
    if attribute == "at_breach" and dim in ("agent", "team"):
        return f"CASE WHEN s.state IN ('breached', 'missed') THEN s.breach_{dim} ELSE s.{dim} END"
    return f"s.{dim}"


def _create(table: str, dims: tuple[str, ...]) -> None:
    columns = ",\n    ".join(
        f'{d} text COLLATE "C"' + (" NOT NULL" if d in NOT_NULL_DIMS else "") for d in dims
    )
    op.execute(
        f"""
CREATE TABLE {table} (
    bucket             timestamptz NOT NULL,
    {columns},
    fulfilled_count    bigint NOT NULL,
    fulfilled_sum      numeric NOT NULL,
    fulfilled_max      double precision,
    fulfilled_min      double precision,
    missed_count       bigint NOT NULL,
    missed_ended_count bigint NOT NULL,
    missed_sum         numeric NOT NULL,
    missed_max         double precision,
    missed_min         double precision
)"""
    )


def _fill(table: str, grain_seconds: int, dims: tuple[str, ...], attribute: str) -> None:
    selected = ", ".join(f"{_dim(d, attribute)} AS {d}" for d in dims)
    positions = ", ".join(str(i) for i in range(1, len(dims) + 2))
    op.execute(
        f"INSERT INTO {table} (bucket, {', '.join(dims)}, {STATS}) "
        f"SELECT date_bin(INTERVAL '{grain_seconds} seconds', s.started_at, "
        f"TIMESTAMPTZ '2000-01-01 00:00:00+00'), {selected}, {COMBINE} "
        f"FROM (SELECT s.*, {ROW_STATS} FROM sla_timers s "
        f"WHERE s.state IN ('fulfilled', 'missed', 'breached')) s GROUP BY {positions}"
    )


def _index(table: str, dims: tuple[str, ...]) -> None:
    # NULLS NOT DISTINCT: a timer without department, agent or team still has one row per bucket.
    op.execute(
        f"CREATE UNIQUE INDEX {table}_key ON {table} (bucket, {', '.join(dims)}) NULLS NOT DISTINCT"
    )


def upgrade() -> None:
    op.execute("DROP INDEX rollup_quarter_key")
    op.execute("TRUNCATE rollup_quarter")
    op.execute('ALTER TABLE rollup_quarter ADD COLUMN team text COLLATE "C"')
    _fill("rollup_quarter", 900, QUARTER_DIMS, "last")
    _index("rollup_quarter", QUARTER_DIMS)
    for table, (grain_seconds, dims, attribute) in NEW_ROLLUPS.items():
        _create(table, dims)
        _fill(table, grain_seconds, dims, attribute)
        _index(table, dims)
    op.execute("CREATE INDEX sla_timers_team ON sla_timers ((COALESCE(team, '')), timer_id)")


def downgrade() -> None:
    op.execute("DROP INDEX sla_timers_team")
    for table in NEW_ROLLUPS:
        op.execute(f"DROP TABLE {table}")
    dims = ("department", "agent", "level", "metric")
    op.execute("DROP INDEX rollup_quarter_key")
    op.execute("TRUNCATE rollup_quarter")
    op.execute("ALTER TABLE rollup_quarter DROP COLUMN team")
    _fill("rollup_quarter", 900, dims, "last")
    _index("rollup_quarter", dims)
