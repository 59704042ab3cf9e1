"""Where the projection's time goes, per stage: wall time of each statement and of the Python steps.

    .venv/bin/python -m bench.profile_projection [TIMERS] [EVENTS]

Loads TIMERS report timers (default 1,000,000, as the quick profile), then runs the projection
benchmark (`bench_reports.bench_projection`, EVENTS events, default 20,000) through a connection
that times every call, and prints the totals per statement (by its first words) and per Python
step (the fold, the rows to write, the rollup changes). With PROFILE_TEMPLATE="ADMIN_URL NAME" it
runs on a fresh copy of database NAME, already loaded, on that server instead (no load). Not a
metric: the figures include the client's round trips and the machine's noise; bench/NOTES.md
records what they showed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import asyncpg

from bench import bench_reports
from bench.servers import servers
from report_api.projection import rollup_deltas, store
from report_api.testing import create_database
from sla_edge.database_url import plain_url

TOTALS: dict[str, list[float]] = defaultdict(list)


def _label(sql: str) -> str:
    words = " ".join(sql.split()[:6])
    return words[:70]


class TimedConnection:
    """Forwards to an asyncpg connection, timing execute, fetch, fetchval and the COPYs."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._conn, name)
        if name not in {"execute", "fetch", "fetchval", "fetchrow", "copy_records_to_table"}:
            return target

        async def timed(first: str, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await target(first, *args, **kwargs)
            finally:
                label = f"COPY {first}" if name == "copy_records_to_table" else _label(first)
                TOTALS[label].append(time.perf_counter() - started)

        return timed

    def transaction(self) -> Any:
        return _TimedTransaction(self._conn.transaction())


class _TimedTransaction:
    def __init__(self, tx: Any) -> None:
        self._tx = tx

    async def __aenter__(self) -> Any:
        started = time.perf_counter()
        result = await self._tx.__aenter__()
        TOTALS["BEGIN"].append(time.perf_counter() - started)
        return result

    async def __aexit__(self, *exc: Any) -> Any:
        started = time.perf_counter()
        result = await self._tx.__aexit__(*exc)
        TOTALS["COMMIT"].append(time.perf_counter() - started)
        return result


def _timed(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            TOTALS[f"python {name}"].append(time.perf_counter() - started)

    return wrapper


async def _run_on_copy(admin_url: str, template: str, events: int) -> list[Any]:
    """Run on a fresh copy of an already loaded database (repeated runs skip the load)."""
    name = f"prof_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(plain_url(admin_url))
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        url = plain_url(admin_url).rsplit("/", 1)[0] + "/" + name
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("CHECKPOINT")
            return await bench_reports.bench_projection(conn, events)
        finally:
            await conn.close()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name}")
        await admin.close()


async def main(timers: int, events: int) -> None:
    steps = ((store, "fold_batch"), (store, "batch_writes"), (rollup_deltas, "rollup_changes"))
    for module, name in steps:  # the Python steps of a batch (the rest is SQL, timed per call)
        setattr(module, name, _timed(name, getattr(module, name)))
    original = bench_reports.commit_batch

    async def commit(conn: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await original(TimedConnection(conn), *args, **kwargs)
        finally:
            TOTALS["= commit_batch"].append(time.perf_counter() - started)

    bench_reports.commit_batch = commit  # type: ignore[assignment]
    bench_reports.PROJECTION_BATCH = int(
        os.environ.get("PROFILE_BATCH", bench_reports.PROJECTION_BATCH)
    )
    template = os.environ.get("PROFILE_TEMPLATE")  # "admin_url template": a loaded database
    if template:
        admin, name = template.split()
        metrics = await _run_on_copy(admin, name, events)
    else:
        with servers(broker=False) as infra:
            url = await create_database(infra.database_url, f"prof_{uuid.uuid4().hex[:8]}")
            conn = await asyncpg.connect(url)
            try:
                await bench_reports.load(conn, timers)
                metrics = await bench_reports.bench_projection(conn, events)
            finally:
                await conn.close()
    metric = metrics[0]
    print(f"ours {metric.value:,.0f} events/s, copy {metric.reference:,.0f} events/s, ", end="")
    print(f"ratio {metric.value / metric.reference:.3f}")
    commit_s = sum(TOTALS.pop("= commit_batch"))
    print(f"commit_batch total {commit_s:.3f} s")
    for label, times in sorted(TOTALS.items(), key=lambda kv: -sum(kv[1])):
        total = sum(times)
        print(f"{total:8.3f} s {100 * total / commit_s:5.1f}% {len(times):5d}x  {label}")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [1_000_000, 20_000][len(args) :])))
