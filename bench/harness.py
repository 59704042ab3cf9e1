"""The pure parts of the benchmark harness: metrics, goals, ratios, statistics, result files.

A metric is one absolute figure (`value`, in `unit`) next to a reference measured in the same run
on the same machine, and their `ratio` (value / reference). Machines are noisy, so the ratio is
the figure that counts; every goal states whether it bounds the ratio or the value.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

METRIC_NAMES = (
    "engine_throughput_vs_relay",
    "breach_delay_p99_ms",
    "memory_per_timer_bytes",
    "restart_ready_seconds",
    "due_vs_businesstimedelta",
    "due_cost_365d_vs_1h",
    "compliance_vs_group_by",
    "compliance_p95_ms",
    "log_page_deep_p95_ms",
    "csv_rows_per_second",
    "csv_vs_copy",
    "projection_events_per_second",
    "projection_vs_copy",
    "archive_vs_copy",
    "whatif_events_per_second",
    "timer_churn_vs_asyncio",
    "retained_bytes_per_forgotten_ticket",
)


@dataclass(frozen=True)
class Goal:
    """A bound on a metric's ratio or value: `on` is "ratio" or "value", `op` is ">=" or "<="."""

    on: str
    op: str
    bound: float

    def __post_init__(self) -> None:
        if self.on not in ("ratio", "value") or self.op not in (">=", "<="):
            raise ValueError(f"bad goal {self.on} {self.op} {self.bound}")

    def met(self, value: float, ratio: float | None) -> bool | None:
        """Whether the goal holds; None when it bounds a ratio that could not be computed."""
        x = ratio if self.on == "ratio" else value
        if x is None or math.isnan(x):
            return None
        return x >= self.bound if self.op == ">=" else x <= self.bound

    def describe(self) -> str:
        return f"{self.on} {self.op} {self.bound:g}"


@dataclass(frozen=True)
class Metric:
    """One result: `value` against `reference` (same unit); `details` holds the other figures."""

    name: str
    value: float
    unit: str
    reference: float
    reference_label: str
    goal: Goal
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return ratio_of(self.value, self.reference)

    @property
    def met(self) -> bool | None:
        return self.goal.met(self.value, self.ratio)

    def to_json(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "name": self.name,
            "value": _round(self.value),
            "unit": self.unit,
            "reference": _round(self.reference),
            "reference_label": self.reference_label,
            "ratio": None if ratio is None else _round(ratio),
            "goal": {**self.goal.__dict__, "text": self.goal.describe()},
            "met": self.met,
            "details": self.details,
        }


def ratio_of(value: float, reference: float) -> float | None:
    """value / reference, or None when the reference is zero or not a number."""
    if reference == 0 or math.isnan(reference) or math.isnan(value):
        return None
    return value / reference


def _round(x: float) -> float:
    if x == 0 or math.isnan(x) or math.isinf(x):
        return x
    digits = max(0, 4 - math.floor(math.log10(abs(x))))
    return round(x, digits)


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    k = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def distribution_ms(delays_s: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99 and max of delays given in seconds, in milliseconds."""
    return {
        "p50_ms": round(percentile(delays_s, 50) * 1000, 3),
        "p95_ms": round(percentile(delays_s, 95) * 1000, 3),
        "p99_ms": round(percentile(delays_s, 99) * 1000, 3),
        "max_ms": round(max(delays_s) * 1000, 3),
        "count": len(delays_s),
    }


def median_rate(work: Callable[[], int], repeats: int) -> tuple[float, list[float]]:
    """Run `work` (which returns how many operations it did) `repeats` times; the median of the
    operations per second, and every run's rate."""
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = work()
        rates.append(done / (time.perf_counter() - started))
    return statistics.median(rates), rates


def interleaved_rates(
    works: dict[str, Callable[[], int]], repeats: int
) -> dict[str, tuple[float, list[float]]]:
    """Like median_rate for several contenders, run in turn (A B A B ...) so that a noisy
    neighbour slows them alike and their ratio stays meaningful."""
    rates: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(repeats):
        for name, work in works.items():
            started = time.perf_counter()
            done = work()
            rates[name].append(done / (time.perf_counter() - started))
    return {name: (statistics.median(r), r) for name, r in rates.items()}


def rss_bytes() -> int:
    return int(psutil.Process().memory_info().rss)


# ---- run metadata and result files -----------------------------------------------------------


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_avg_1_5_15": [round(x, 2) for x in load],
    }


def commit(repo: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_info(repo: Path, profile: str, command: str) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(repo),
        "profile": profile,
        "command": command,
        "machine": machine(),
    }


def merge_results(
    previous: Iterable[dict[str, Any]], fresh: Iterable[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The previous results with the fresh ones replacing those of the same name, in the
    canonical metric order (unknown names last)."""
    by_name = {m["name"]: m for m in previous}
    by_name.update({m["name"]: m for m in fresh})
    order = {name: i for i, name in enumerate(METRIC_NAMES)}
    return sorted(by_name.values(), key=lambda m: (order.get(m["name"], len(order)), m["name"]))


def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def _verdict(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "n/a"}[met]


def render_markdown(results: list[dict[str, Any]], notes: str) -> str:
    """RESULTS.md: one table of every metric with its run, then the details and the notes."""
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python -m bench` (`make bench` / `make bench-full`); do not edit by hand"
        " except `bench/NOTES.md`, which is copied below the tables. The ratio is value divided"
        " by the reference measured in the same run; goals bound the ratio or the value.",
        "",
    ]
    runs: dict[str, dict[str, Any]] = {}
    for m in results:
        run = m.get("run", {})
        runs.setdefault(run.get("id", "?"), run)
    lines.append("## Runs")
    lines.append("")
    for rid, run in runs.items():
        mach = run.get("machine", {})
        lines.append(
            f"- run `{rid}`: {run.get('date')}, commit `{run.get('commit')}`, profile"
            f" `{run.get('profile')}`, command `{run.get('command')}`; machine: {mach.get('cores')}"
            f" cores, {mach.get('memory_gib')} GiB, Python {mach.get('python')}, load average"
            f" (1/5/15 min) at start {mach.get('load_avg_1_5_15')}"
        )
    lines += [
        "",
        "## Metrics",
        "",
        "| metric | value | unit | reference | ratio | goal | met | run |",
        "|---|---:|---|---:|---:|---|---|---|",
    ]
    for m in results:
        lines.append(
            f"| `{m['name']}` | {_fmt(m['value'])} | {m['unit']} | {_fmt(m['reference'])}"
            f" ({m.get('reference_label', '')}) | {_fmt(m['ratio'])} | {m['goal']['text']}"
            f" | {_verdict(m['met'])} | `{m.get('run', {}).get('id', '?')}` |"
        )
    lines += ["", "## Details", ""]
    for m in results:
        details = ", ".join(f"{k}={v}" for k, v in m.get("details", {}).items())
        lines.append(f"- `{m['name']}`: {details}")
    lines += ["", notes.strip(), ""]
    return "\n".join(lines)


def write_results(
    directory: Path, fresh: list[Metric], info: dict[str, Any], notes: str
) -> list[dict[str, Any]]:
    """Merge the fresh metrics into results.json and rewrite RESULTS.md; return all results."""
    path = directory / "results.json"
    previous = json.loads(path.read_text()) if path.exists() else []
    run = {**info, "id": f"{info['date'][:10]}-{info['commit']}-{info['profile']}"}
    fresh_json = [{**m.to_json(), "run": run} for m in fresh]
    results = merge_results(previous, fresh_json)
    path.write_text(json.dumps(results, indent=2) + "\n")
    (directory / "RESULTS.md").write_text(render_markdown(results, notes))
    return results


@dataclass(frozen=True)
class Profile:
    """The sizes of one profile; `quick` fits in 10 minutes on 2 shared cores."""

    name: str
    repeats: int
    due_inputs: int  # business-time computations per repeat
    timers: int  # open timers for memory, breach latency, restart
    churn_pending: int  # pending timers while arming and cancelling
    churn_ops: int  # arm+cancel pairs per repeat
    breach_window_s: float  # the dues of all timers fall in this many seconds
    kafka_events: int  # messages through the relay and the engine
    report_rows: int  # timers in the report tables
    projection_events: int  # SLA events through the projection
    forgotten_tickets: int  # tickets created, closed and forgotten (memory per forgotten one)
    forgotten_reference_tickets: int  # the same stream with nothing forgotten
    forgotten_rows: int  # engine_forgotten rows behind the snapshot at restart


PROFILES = {
    "tiny": Profile(
        name="tiny",
        repeats=2,
        due_inputs=200,
        timers=2_000,
        churn_pending=2_000,
        churn_ops=2_000,
        breach_window_s=1.0,
        kafka_events=600,
        report_rows=2_000,
        projection_events=400,
        forgotten_tickets=20_000,
        forgotten_reference_tickets=5_000,
        forgotten_rows=5_000,
    ),
    "quick": Profile(
        name="quick",
        repeats=5,
        due_inputs=20_000,
        timers=1_000_000,
        churn_pending=1_000_000,
        churn_ops=200_000,
        breach_window_s=30.0,
        kafka_events=30_000,
        report_rows=1_000_000,
        projection_events=20_000,
        forgotten_tickets=1_000_000,
        forgotten_reference_tickets=200_000,
        forgotten_rows=1_000_000,
    ),
    "full": Profile(
        name="full",
        repeats=7,
        due_inputs=100_000,
        timers=1_000_000,
        churn_pending=1_000_000,
        churn_ops=1_000_000,
        breach_window_s=60.0,
        kafka_events=300_000,
        report_rows=10_000_000,
        projection_events=200_000,
        forgotten_tickets=1_000_000,
        forgotten_reference_tickets=200_000,
        forgotten_rows=1_000_000,
    ),
}
