"""Profile the hot paths the benchmarks found, with pyinstrument; one text report per path.

    .venv/bin/python -m bench.profile_hot [NAME ...]  # handle restore churn engine projection

Reports go to bench/profiles/NAME.txt (call trees, slow frames first); bench/NOTES.md says what
they show. pyinstrument is a development requirement.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyinstrument import Profiler

from bench import bench_engine, bench_reports, bench_timers, workload
from bench.servers import servers
from sla_core.partition.engine import PartitionEngine

OUT = Path(__file__).resolve().parent / "profiles"


def save(name: str, profiler: Profiler) -> None:
    OUT.mkdir(exist_ok=True)
    text = profiler.output_text(unicode=False, color=False, show_all=False, timeline=False)
    (OUT / f"{name}.txt").write_text(text)
    print(f"{name}: {OUT / (name + '.txt')}")


def profile_sync(name: str, work: Callable[[], object]) -> None:
    profiler = Profiler(interval=0.0005)
    with profiler:
        work()
    save(name, profiler)


def handle() -> None:
    """PartitionEngine.handle for ticket creations (two timers each)."""
    engine = PartitionEngine(0, workload.policy())
    first_due = datetime.now(UTC) + timedelta(hours=2)
    events = list(workload.tickets_due_in(50_000, first_due, timedelta(minutes=10)))
    profile_sync("handle", lambda: workload.fill_engine(engine, iter(events)))


def restore() -> None:
    """PartitionEngine.restore from snapshot rows (what restart spends its time on)."""
    engine = PartitionEngine(0, workload.policy())
    first_due = datetime.now(UTC) + timedelta(hours=2)
    events = workload.tickets_due_in(50_000, first_due, timedelta(minutes=10))
    for event in events:
        engine.handle(event, event.time)
    rows = [(tid, row.state, row.alarm_us, row.running) for tid, row in engine.take_dirty().items()]
    policy = engine.policy
    profile_sync(
        "restore",
        lambda: PartitionEngine.restore(0, policy, engine.meta(), rows),  # type: ignore[arg-type]
    )


def churn() -> None:
    """Arming and cancelling alarms with 200,000 pending."""
    base = datetime.now(UTC) + timedelta(days=1)
    engine = bench_timers.engine_with_pending(200_000, base)
    timers = [bench_timers._timer(n, base) for n in range(200_000)]
    profile_sync("churn", lambda: bench_timers.engine_churn(engine, timers))


async def _engine() -> None:
    with servers() as infra, tempfile.TemporaryDirectory() as tmp:
        policy_file = Path(tmp) / "policy.yaml"
        policy_file.write_text(workload.POLICY)
        topic = f"tickets-{uuid.uuid4().hex[:8]}"
        await bench_engine.create_topics(infra.bootstrap_servers, topic)
        await bench_engine.produce_input(infra.bootstrap_servers, topic, 30_000)
        settings = bench_engine.settings_for(infra, policy_file, topic, uuid.uuid4().hex[:8])
        profiler = Profiler(interval=0.0005, async_mode="enabled")
        with profiler:
            await bench_engine.engine_run(settings, 30_000)
        save("engine", profiler)


async def _projection() -> None:
    import asyncpg

    from report_api.testing import create_database

    with servers(broker=False) as infra:
        url = await create_database(infra.database_url, f"prof_{uuid.uuid4().hex[:8]}")
        conn = await asyncpg.connect(url)
        try:
            await bench_reports.load(conn, 100_000)
            profiler = Profiler(interval=0.0005, async_mode="enabled")
            with profiler:
                await bench_reports.bench_projection(conn, 10_000)
            save("projection", profiler)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()


PATHS: dict[str, Callable[[], None]] = {
    "handle": handle,
    "restore": restore,
    "churn": churn,
    "engine": lambda: asyncio.run(_engine()),
    "projection": lambda: asyncio.run(_projection()),
}


if __name__ == "__main__":
    for name in sys.argv[1:] or list(PATHS):
        PATHS[name]()
