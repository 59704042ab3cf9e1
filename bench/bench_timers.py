"""Open timers: memory per timer, breach latency, and arm/cancel churn, each against asyncio.

Memory and latency run in a fresh interpreter each (`python -m bench.bench_timers MODE N WINDOW`),
so resident-set growth is the timers' and nothing else's. The engine side fills a PartitionEngine
with N open timers (two per ticket) whose dues spread over a window starting a few seconds ahead,
then runs the service's scheduling loop against the wall clock: sleep until the earliest alarm,
advance the watermark to now, record emitted-minus-due for every breach (grace 0, no Kafka: the
engine throughput benchmark covers the broker). The reference side arms the same N instants with
asyncio's `loop.call_at` and records callback-time-minus-due, and its memory per handle.

Churn compares the engine's alarm structure (a binary heap with lazy cancellation by version)
with asyncio's timer heap, both holding the same number of pending timers.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import workload
from bench.harness import Goal, Metric, Profile, distribution_ms, interleaved_rates, rss_bytes
from sla_core.calendar import ALWAYS_OPEN
from sla_core.instants import to_us
from sla_core.partition.engine import PartitionEngine
from sla_core.timers import Timer
from sla_engine.collector import Collector

METRICS = ("breach_delay_p99_ms", "memory_per_timer_bytes", "timer_churn_vs_asyncio")
LEAD_S = 5.0  # seconds between the end of filling and the first due, beyond the fill time


# ---- the two sides of memory and latency (run in a child interpreter) --------------------------


def engine_side(timers: int, window_s: float, conditions: bool = False) -> dict[str, Any]:
    tickets = timers // workload.TIMERS_PER_TICKET
    fill_rate = 20_000.0  # tickets/s, conservative: the first due must come after the fill
    first_due = datetime.now(UTC) + timedelta(seconds=LEAD_S + tickets / fill_rate)
    engine = PartitionEngine(0, workload.policy(conditions=conditions))
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    workload.fill_engine(
        engine, workload.tickets_due_in(tickets, first_due, timedelta(seconds=window_s))
    )
    fill_s = time.perf_counter() - started
    gc.collect()
    grown = rss_bytes() - before
    # the service's collector policy (sla_engine.collector): its loop freezes the survivors
    # every snapshot interval and ticks every turn; here the fill is followed by one freeze
    collector = Collector()
    collector.settle()
    opened = engine.open_timers
    heap_entries = engine.open_alarms  # timers' alarms, and a flip per ticket with conditions
    early = datetime.now(UTC) > first_due
    # a fill slower than planned (a busy machine) would make a backlog of the first dues and
    # measure it: the loop's clock then runs behind the wall clock, so the first due is still
    # LEAD_S ahead when it starts (the engine keeps event time: only the clock is shifted)
    behind_s = max(0.0, time.time() + LEAD_S - first_due.timestamp())

    def clock() -> float:
        return time.time() - behind_s

    delays: list[float] = []
    while len(delays) < opened:
        nxt = engine.next_alarm_us()
        if nxt is None:
            break
        wait = nxt / 1e6 - clock()
        if wait > 0:
            time.sleep(wait)
        outputs = engine.advance(int(clock() * 1e6))
        emitted = clock()
        collector.tick()
        for event in outputs:
            if event.type == "sla.breached":
                delays.append(emitted - event.time.timestamp())
    return {
        "timers": opened,
        "heap_entries": heap_entries,
        "rss_growth_bytes": grown,
        "fill_seconds": round(fill_s, 2),
        "fill_overran_first_due": early,
        "clock_behind_seconds": round(behind_s, 2),
        "delays": distribution_ms(delays) if delays else {},
    }


def asyncio_side(timers: int, window_s: float) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        delays: list[float] = []
        done = loop.create_future()

        def fired(due: float) -> None:
            delays.append(loop.time() - due)
            if len(delays) == timers and not done.done():
                done.set_result(None)

        gc.collect()
        before = rss_bytes()
        first = loop.time() + LEAD_S + timers / 200_000
        step = window_s / timers
        handles = [loop.call_at(first + step * n, fired, first + step * n) for n in range(timers)]
        gc.collect()
        grown = rss_bytes() - before
        del handles
        await done
        return {"timers": timers, "rss_growth_bytes": grown, "delays": distribution_ms(delays)}

    return asyncio.run(main())


def run_child(mode: str, timers: int, window_s: float) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_timers", mode, str(timers), str(window_s)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def bench_memory_and_latency(profile: Profile, wanted: set[str]) -> list[Metric]:
    ours = run_child("engine", profile.timers, profile.breach_window_s)
    ref = run_child("asyncio", profile.timers, profile.breach_window_s)
    # breach latency with conditions and a time-based rule active on the level (issue #17):
    # every ticket also holds a flip entry that surfaces among the breaches
    judged = (
        run_child("engine-conditions", profile.timers, profile.breach_window_s)
        if "breach_delay_p99_ms" in wanted
        else ours
    )
    out = []
    if "memory_per_timer_bytes" in wanted:
        out.append(
            Metric(
                name="memory_per_timer_bytes",
                value=ours["rss_growth_bytes"] / ours["timers"],
                unit="B/timer",
                reference=ref["rss_growth_bytes"] / ref["timers"],
                reference_label="B per pending asyncio call_at handle",
                goal=Goal("value", "<=", 1024),
                details={
                    "timers": ours["timers"],
                    "tickets": ours["timers"] // workload.TIMERS_PER_TICKET,
                    "rss_growth_bytes": ours["rss_growth_bytes"],
                    "fill_seconds": ours["fill_seconds"],
                },
            )
        )
    if "breach_delay_p99_ms" in wanted:
        out.append(
            Metric(
                name="breach_delay_p99_ms",
                value=judged["delays"]["p99_ms"],
                unit="ms",
                reference=ref["delays"]["p99_ms"],
                reference_label="p99 lateness of asyncio call_at, same instants",
                goal=Goal("value", "<=", 50),
                details={
                    "timers": judged["timers"],
                    "policy": "conditions (pause, reset, cancel) and an older_than rule whose "
                    "flips fall among the breaches (bench.workload.CONDITIONS_POLICY)",
                    "heap_entries_at_start": judged["heap_entries"],
                    "window_seconds": profile.breach_window_s,
                    "breaches_per_second": round(judged["timers"] / profile.breach_window_s),
                    "engine": judged["delays"],
                    "engine_without_conditions": ours["delays"],
                    "asyncio": ref["delays"],
                    "fill_overran_first_due": judged["fill_overran_first_due"],
                    "clock_behind_seconds": judged["clock_behind_seconds"],
                },
            )
        )
    return out


# ---- churn (in process) -------------------------------------------------------------------------


def _timer(n: int, due: datetime) -> Timer:
    return Timer(
        ticket_id=f"c{n}",
        metric="resolution",
        cycle=0,
        level="standard",
        calendar=ALWAYS_OPEN,
        target_seconds=3600.0,
        started_us=to_us(due - workload.TARGET),
        due_us=to_us(due),
    )


def engine_with_pending(pending: int, base: datetime) -> PartitionEngine:
    engine = PartitionEngine(0, workload.policy())
    engine._arm([_timer(n, base + timedelta(microseconds=n * 997)) for n in range(pending)])
    return engine


def engine_churn(engine: PartitionEngine, timers: list[Timer]) -> int:
    """Re-arm each timer (arm a new alarm) and cancel it (bump its version: the alarm is stale)."""
    arm = engine._arm
    for timer in timers:
        arm([timer])
        timer.version += 1
    return len(timers)


def asyncio_churn(loop: asyncio.AbstractEventLoop, whens: list[float]) -> int:
    call_at = loop.call_at
    for when in whens:
        call_at(when, _noop).cancel()
    return len(whens)


def _noop() -> None:
    pass


def bench_churn(profile: Profile) -> Metric:
    base = datetime.now(UTC) + timedelta(days=1)
    engine = engine_with_pending(profile.churn_pending, base)
    churners = [_timer(profile.churn_pending + n, base) for n in range(profile.churn_ops)]
    for n, timer in enumerate(churners):
        timer.due_us = to_us(base + timedelta(microseconds=n * 1009))
    loop = asyncio.new_event_loop()
    try:
        t0 = loop.time() + 86_400
        pending = [loop.call_at(t0 + n * 0.000997, _noop) for n in range(profile.churn_pending)]
        whens = [t0 + n * 0.001009 for n in range(profile.churn_ops)]

        def ours() -> int:
            done = engine_churn(engine, churners)
            # drop the stale alarms, as surfacing them would, so every repeat starts alike
            engine._heap = [e for e in engine._heap if e[4] == e[6].version]
            heapq.heapify(engine._heap)
            return done

        def theirs() -> int:
            done = asyncio_churn(loop, whens)
            loop._scheduled = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
            heapq.heapify(loop._scheduled)  # type: ignore[attr-defined]
            loop._timer_cancelled_count = 0  # type: ignore[attr-defined]
            return done

        rates = interleaved_rates({"engine": ours, "asyncio": theirs}, profile.repeats)
        del pending
    finally:
        loop.close()
    value, our_runs = rates["engine"]
    reference, their_runs = rates["asyncio"]
    return Metric(
        name="timer_churn_vs_asyncio",
        value=value,
        unit="arm+cancel/s",
        reference=reference,
        reference_label="asyncio call_at + cancel per s",
        goal=Goal("ratio", ">=", 2),
        details={
            "pending": profile.churn_pending,
            "ops_per_repeat": profile.churn_ops,
            "engine_runs": [round(r) for r in our_runs],
            "asyncio_runs": [round(r) for r in their_runs],
            "measures": "PartitionEngine._arm (heap push of the alarm tuple) + version bump",
        },
    )


def run(profile: Profile, wanted: set[str]) -> list[Metric]:
    out = []
    if wanted & {"memory_per_timer_bytes", "breach_delay_p99_ms"}:
        out.extend(bench_memory_and_latency(profile, wanted))
    if "timer_churn_vs_asyncio" in wanted:
        out.append(bench_churn(profile))
    return out


if __name__ == "__main__":
    mode, n, window = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    if mode == "asyncio":
        print(json.dumps(asyncio_side(n, window)))
    else:
        print(json.dumps(engine_side(n, window, conditions=mode == "engine-conditions")))
