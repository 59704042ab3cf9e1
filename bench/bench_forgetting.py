"""Bounded state (SPEC 10): what a closed ticket leaves in memory once its reopen window passed.

A PartitionEngine is driven directly (no Kafka, no PostgreSQL) in a fresh interpreter
(`python -m bench.bench_forgetting COUNT WARMUP WINDOW`), so resident-set growth is the engine's
and nothing else's. The stream: ticket n is created at `START + n * STEP` (1,000,000 tickets
over a simulated year: one every 31.5 s of event time), answered 10 minutes and closed 30
minutes later (both timers stop well within their 1 h target), the events of all tickets in
time order. Every SNAPSHOT_EVERY tickets a snapshot round is taken as the service takes it
(`begin_snapshot`, `fill_snapshot`, `snapshot_saved`; the rows are dropped instead of written),
which is what lets the engine drop the ids of the tickets it forgot.

Memory is measured between two points both past the warm-up (`WARMUP` tickets, many reopen
windows of event time): after a snapshot round and `gc.collect()`, RSS and
`sys.getallocatedblocks()` at the end of the warm-up and at the end of the stream, their growth
divided by the tickets created in between (both points at the same phase of the stream: the
last 30 minutes' tickets still open). With a 24 h window the engine holds about the
tickets closed in the last 24 h of event time at both points, so growth per ticket is what a
forgotten ticket leaves behind. The reference runs the same stream with a window longer than
the year (nothing forgotten), over fewer tickets: its growth per ticket is what a closed ticket
costs while it is kept, today's cost without forgetting.

Diagnosis: `python -m bench.bench_forgetting COUNT WARMUP WINDOW trace` runs the same with
tracemalloc on and adds the largest growths between the two points by file and line.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import workload
from bench.harness import Goal, Metric, Profile, rss_bytes
from sla_core.events import TicketEvent
from sla_core.partition.engine import PartitionEngine
from sla_core.policy import parse_policy

METRICS = ("retained_bytes_per_forgotten_ticket",)
START = datetime(2025, 1, 1, tzinfo=UTC)
STEP = timedelta(days=365) / 1_000_000  # event time between two creations: 31.536 s
ANSWER_AFTER = timedelta(minutes=10)
CLOSE_AFTER = timedelta(minutes=30)
WINDOW = "24h"
NO_FORGETTING = "100000h"  # 11.4 years: longer than any stream here
SNAPSHOT_EVERY = 10_000  # tickets between snapshot rounds (the service: every 5 s of wall time)
WALL = datetime(2100, 1, 1, tzinfo=UTC)  # far ahead of every event: nothing is clamped


def policy_with_window(window: str) -> Any:
    return parse_policy(
        workload.POLICY + f"policy:\n  reopen_window: {window}\n", source="bench-forgetting"
    )


def _event(ticket_id: str, kind: str, at: datetime) -> TicketEvent:
    return TicketEvent(
        id=f"{ticket_id}-{kind[7:]}", source="bench", type=kind, time=at, ticket_id=ticket_id
    )


def _snapshot_round(engine: PartitionEngine) -> None:
    snapshot = engine.begin_snapshot()
    engine.fill_snapshot(len(snapshot.waiting))
    engine.snapshot_saved(snapshot)


_traces: list[tracemalloc.Snapshot] = []


def _settled() -> tuple[int, int]:
    gc.collect()
    if tracemalloc.is_tracing():
        _traces.append(tracemalloc.take_snapshot())
    return rss_bytes(), sys.getallocatedblocks()


def traced_growth(top: int = 10) -> list[str]:
    """With tracing on (the `trace` argument; a diagnosis, not the metric: tracing costs time
    and memory of its own), what grew between the two points, by file and line."""
    if len(_traces) < 2:
        return []
    diff = _traces[-1].compare_to(_traces[0], "lineno")
    return [str(d) for d in diff[:top] if d.size_diff or d.count_diff]


def side(count: int, warmup: int, window: str) -> dict[str, Any]:
    """Push `count` tickets (created, answered, closed) through one engine; memory growth
    between the end of the first `warmup` tickets and the end of the stream."""
    policy = policy_with_window(window)
    engine = PartitionEngine(0, policy)
    answer_lag = -(-ANSWER_AFTER // STEP)  # in creations: ceil
    close_lag = -(-CLOSE_AFTER // STEP)
    handle = engine.handle
    created = workload.created
    events = 0
    marks: dict[str, tuple[int, int]] = {}
    started = time.perf_counter()
    elapsed: dict[str, float] = {}
    held: dict[str, int] = {}
    # tick n: ticket n is created, ticket n - answer_lag answered, n - close_lag closed
    for n in range(count + close_lag):
        at = START + STEP * n
        if n < count:
            handle(created(f"t{n}", at, n), WALL)
            events += 1
        a = n - answer_lag
        if 0 <= a < count:
            handle(_event(f"t{a}", "ticket.answered", at), WALL)
            events += 1
        c = n - close_lag
        if 0 <= c < count:
            handle(_event(f"t{c}", "ticket.closed", at), WALL)
            events += 1
        if n % SNAPSHOT_EVERY == SNAPSHOT_EVERY - 1:
            _snapshot_round(engine)
        if n in (warmup - 1, count - 1):  # the same phase of the stream: compare like for like
            _snapshot_round(engine)
            point = "warm" if n == warmup - 1 else "end"
            elapsed[point] = time.perf_counter() - started
            marks[point] = _settled()
            held[point] = len(engine.tickets)
    _snapshot_round(engine)  # the last tickets' closes and their forgetting, for the details
    measured = count - warmup
    rss_growth = marks["end"][0] - marks["warm"][0]
    blocks_growth = marks["end"][1] - marks["warm"][1]
    window_us = policy.reopen_window_us
    horizon_us = engine.watermark_us - window_us
    within = sum(
        1 for s in engine.tickets.values() if s.ended_us is None or s.ended_us > horizon_us
    )
    return {
        "tickets": count,
        "warmup_tickets": warmup,
        "measured_tickets": measured,
        "events": events,
        "reopen_window": window,
        "event_time_days": round((STEP * (count + close_lag)).total_seconds() / 86_400, 1),
        "rss_growth_bytes": rss_growth,
        "bytes_per_ticket": rss_growth / measured,
        "allocated_blocks_growth": blocks_growth,
        "blocks_per_ticket": round(blocks_growth / measured, 4),
        "rss_after_warmup_mib": round(marks["warm"][0] / 2**20, 1),
        "rss_at_end_mib": round(marks["end"][0] / 2**20, 1),
        "tickets_held_after_warmup": held["warm"],
        "tickets_held_at_second_point": held["end"],
        "tickets_held_after_last_close": len(engine.tickets),
        "of_them_within_window": within,
        "heap_entries": len(engine._heap),
        "open_timers": engine.open_timers,
        "forgotten_unsaved": len(engine.forgotten_unsaved),
        "warmup_seconds": round(elapsed["warm"], 1),
        "seconds": round(elapsed["end"], 1),
    }


def run_child(count: int, warmup: int, window: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_forgetting", str(count), str(warmup), window],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(profile: Profile, wanted: set[str]) -> list[Metric]:
    if "retained_bytes_per_forgotten_ticket" not in wanted:
        return []
    count = profile.forgotten_tickets
    # past the warm-up the engine holds a steady window's worth of tickets: several windows
    windows = policy_with_window(WINDOW).reopen_window_us / (STEP.total_seconds() * 1e6)
    ours = run_child(count, max(count // 10, round(3 * windows)), WINDOW)
    ref_count = profile.forgotten_reference_tickets
    ref = run_child(ref_count, ref_count // 10, NO_FORGETTING)
    return [
        Metric(
            name="retained_bytes_per_forgotten_ticket",
            value=ours["bytes_per_ticket"],
            unit="B/ticket",
            reference=ref["bytes_per_ticket"],
            reference_label="B per closed ticket kept, same stream, window beyond the year",
            goal=Goal("value", "<=", 16),
            details={
                "ours": {k: v for k, v in ours.items() if k != "bytes_per_ticket"},
                "reference": {k: v for k, v in ref.items() if k != "bytes_per_ticket"},
                "stream": "created, answered +10 min, closed +30 min; one creation per"
                f" {STEP.total_seconds():g} s of event time; snapshot round every"
                f" {SNAPSHOT_EVERY:,} tickets",
            },
        )
    ]


if __name__ == "__main__":
    n, warm, window_arg = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    trace = sys.argv[4:] == ["trace"]
    if trace:
        tracemalloc.start(5)
    result = side(n, warm, window_arg)
    if trace:
        result["traced_growth"] = traced_growth()
    print(json.dumps(result))
