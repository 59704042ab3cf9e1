"""The projection's side of the compliance rollups: what one batch changes in every rollup table.

A batch's net effect on a timer is a signed contribution: -1 for what its stored row counted,
+1 for what its new row counts, each keyed by `rollups.KEY_COLUMNS`, so that every table derives
its own dimensions (attribution included) from the same rows. A removed time figure (min and max
cannot be "un-added") dirties the rows it counted in; they are recomputed from `sla_timers`.

The SQL is built from `rollups.ROLLUPS`: a new table or dimension there needs nothing here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from report_api.projection.handlers import BatchResult, TimerRow
from report_api.rollups import (
    COUNTED_STATES,
    FIGURE_STATES,
    KEY_COLUMNS,
    ROLLUPS,
    STAT_COLUMNS,
    RollupSpec,
    combine_sql,
    row_stats_sql,
    upsert_set_sql,
)

# Serialises the rollup section of concurrent batches (replicas share rollup rows): a recompute
# must not overwrite a row with a snapshot that misses another batch's committed delta.
ROLLUP_LOCK_KEY = 0x534C_4152_4F4C  # "SLAROL"

# A contribution: (started_at, *KEY_COLUMNS, state, elapsed_seconds, sign).
# A dirty key:    (started_at, *KEY_COLUMNS, state); the state decides the attribution.
CONTRIBUTION_WIDTH = len(KEY_COLUMNS) + 4
DIRTY_WIDTH = len(KEY_COLUMNS) + 2
_KEY = ("started_at", *KEY_COLUMNS, "state")
_KEY_ARRAYS = ", ".join(
    f"${i}::{'timestamptz' if c == 'started_at' else 'text'}[]" for i, c in enumerate(_KEY, 1)
)
_CONTRIBUTIONS = (
    f"SELECT c0.*, {row_stats_sql('c0.state', 'c0.elapsed_seconds', 'c0.sign')} "
    f"FROM unnest({_KEY_ARRAYS}, ${len(_KEY) + 1}::float8[], ${len(_KEY) + 2}::int[]) "
    f"AS c0({', '.join(_KEY)}, elapsed_seconds, sign)"
)


def _keys_sql(spec: RollupSpec, row: str) -> str:
    dims = ", ".join(f"{spec.dim_sql(d, row)} AS {d}" for d in spec.dims)
    return f"{spec.bucket_sql(f'{row}.started_at')} AS bucket, {dims}"


def _add_deltas_cte(index: int, spec: RollupSpec) -> str:
    key = ", ".join(spec.key)
    return (
        f"u{index} AS (INSERT INTO {spec.table} AS r ({key}, {', '.join(STAT_COLUMNS)}) "
        f"SELECT {_keys_sql(spec, 'c')}, {', '.join(combine_sql())} FROM c "
        f"GROUP BY {spec.key_positions} ORDER BY {spec.key_positions} "
        f"ON CONFLICT ({key}) DO UPDATE SET {upsert_set_sql('r')} RETURNING 1)"
    )


ADD_DELTAS = (
    f"WITH c AS ({_CONTRIBUTIONS}), "
    + ", ".join(_add_deltas_cte(i, spec) for i, spec in enumerate(ROLLUPS))
    + " SELECT "
    + " + ".join(f"(SELECT count(*) FROM u{i})" for i in range(len(ROLLUPS)))
)


def _dirty_keys_sql(spec: RollupSpec) -> str:
    return (
        f"SELECT DISTINCT {_keys_sql(spec, 'd0')} "
        f"FROM unnest({_KEY_ARRAYS}) AS d0({', '.join(_KEY)})"
    )


def _same_dims(spec: RollupSpec, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{d} IS NOT DISTINCT FROM {right}.{d}" for d in spec.dims)


def _recompute_sql(spec: RollupSpec) -> tuple[str, str]:
    """DELETE then INSERT: rows of dirty keys, recomputed from sla_timers."""
    delete = (
        f"DELETE FROM {spec.table} r USING ({_dirty_keys_sql(spec)}) d "
        f"WHERE r.bucket = d.bucket AND {_same_dims(spec, 'r', 'd')}"
    )
    key = ", ".join(spec.key)
    matches = " AND ".join(
        f"{spec.dim_sql(dim, 'x')} IS NOT DISTINCT FROM d.{dim}" for dim in spec.dims
    )
    insert = (
        f"INSERT INTO {spec.table} ({key}, {', '.join(STAT_COLUMNS)}) "
        f"SELECT {key}, {', '.join(combine_sql())} FROM ("
        f"SELECT d.*, {row_stats_sql('x.state', 'x.elapsed_seconds')} "
        f"FROM ({_dirty_keys_sql(spec)}) d JOIN sla_timers x "
        f"ON x.started_at >= d.bucket "
        f"AND x.started_at < d.bucket + INTERVAL '{spec.grain_seconds} seconds' "
        f"AND {matches} "
        f"WHERE x.state IN ({', '.join(repr(s) for s in COUNTED_STATES)})"
        f") s GROUP BY {key} ORDER BY {key}"
    )
    return delete, insert


RECOMPUTE = [_recompute_sql(spec) for spec in ROLLUPS]


def _contributes(row: TimerRow | None) -> bool:
    return row is not None and row.state in COUNTED_STATES


def _key(row: TimerRow) -> tuple[Any, ...]:
    return (row.started_at, *(getattr(row, c) for c in KEY_COLUMNS))


def rollup_changes(result: BatchResult) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Signed contribution rows and dirty keys for the rollups, from a batch's net effect
    (shapes: see CONTRIBUTION_WIDTH and DIRTY_WIDTH)."""
    deltas: list[tuple[Any, ...]] = []
    dirty: list[tuple[Any, ...]] = []
    for timer_id, after in result.after.items():
        before = result.before.get(timer_id)
        if not _contributes(before) and not _contributes(after):
            continue
        old = (_key(before), before.state, before.elapsed_seconds) if before else None
        new = (_key(after), after.state, after.elapsed_seconds) if after else None
        if old == new:
            continue
        if before is not None and _contributes(before):
            deltas.append((*_key(before), before.state, before.elapsed_seconds, -1))
            if before.state in FIGURE_STATES:
                dirty.append((*_key(before), before.state))
        if after is not None and _contributes(after):
            deltas.append((*_key(after), after.state, after.elapsed_seconds, 1))
    return deltas, dirty


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[tuple[Any, ...]]:
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]


async def write_rollup_changes(conn: asyncpg.Connection, result: BatchResult) -> None:
    """Apply a batch's rollup changes inside the caller's transaction: take the rollup lock, add
    the signed deltas to every table (one statement), recompute the dirty rows."""
    deltas, dirty = rollup_changes(result)
    if not deltas and not dirty:
        return
    await conn.execute("SELECT pg_advisory_xact_lock($1)", ROLLUP_LOCK_KEY)
    if deltas:
        await conn.execute(ADD_DELTAS, *_columns(deltas, CONTRIBUTION_WIDTH))
    if dirty:
        keys = _columns(sorted(set(dirty), key=repr), DIRTY_WIDTH)
        for delete, insert in RECOMPUTE:
            await conn.execute(delete, *keys)
            await conn.execute(insert, *keys)
