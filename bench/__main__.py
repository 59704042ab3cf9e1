"""Run the benchmarks: `python -m bench --profile quick|full [--only NAME[,NAME]]`.

Each area module has METRICS (the names it measures) and run(profile, wanted) -> [Metric]. The
fresh metrics are merged into bench/results.json (same names replaced) and bench/RESULTS.md is
rewritten, with bench/NOTES.md (profiling notes, written by people) copied below the tables.
"""

from __future__ import annotations

import argparse
import importlib
import json
import shlex
import sys
import time
from pathlib import Path

from bench.harness import (
    METRIC_NAMES,
    PROFILES,
    Metric,
    render_markdown,
    run_info,
    write_results,
)

BENCH_DIR = Path(__file__).resolve().parent
AREAS = (
    "bench_business_time",
    "bench_timers",
    "bench_forgetting",
    "bench_engine",
    "bench_reports",
    "bench_archive",
    "bench_whatif",
)


def select(only: str | None) -> set[str]:
    """The metric names asked for (all by default); unknown names are an error."""
    if not only:
        return set(METRIC_NAMES)
    names = {n.strip() for n in only.split(",") if n.strip()}
    unknown = names - set(METRIC_NAMES)
    if unknown:
        raise SystemExit(f"unknown metric(s): {', '.join(sorted(unknown))}")
    return names


def print_metric(m: Metric) -> None:
    ratio = "n/a" if m.ratio is None else f"{m.ratio:.3g}"
    verdict = {True: "met", False: "NOT met", None: "n/a"}[m.met]
    print(
        f"  {m.name}: {m.value:,.6g} {m.unit} | reference {m.reference:,.6g} "
        f"({m.reference_label}) | ratio {ratio} | goal {m.goal.describe()}: {verdict}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--only", help="comma-separated metric names")
    parser.add_argument("--out", type=Path, default=BENCH_DIR, help="where results go")
    parser.add_argument(
        "--render", action="store_true", help="only rewrite RESULTS.md from results.json"
    )
    args = parser.parse_args(argv)
    notes_path = BENCH_DIR / "NOTES.md"
    notes = notes_path.read_text() if notes_path.exists() else ""
    if args.render:
        results = json.loads((args.out / "results.json").read_text())
        (args.out / "RESULTS.md").write_text(render_markdown(results, notes))
        return 0
    profile = PROFILES[args.profile]
    wanted = select(args.only)
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    info = run_info(BENCH_DIR.parent, profile.name, command)
    print(f"bench: profile {profile.name}, {len(wanted)} metric(s); machine {info['machine']}")
    fresh: list[Metric] = []
    for area in AREAS:
        module = importlib.import_module(f"bench.{area}")
        asked = wanted & set(module.METRICS)
        if not asked:
            continue
        print(f"{area}: {', '.join(sorted(asked))}", flush=True)
        started = time.perf_counter()
        for metric in module.run(profile, asked):
            print_metric(metric)
            fresh.append(metric)
        print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
        write_results(args.out, fresh, info, notes)  # after each area: a crash keeps the rest
    return 0


if __name__ == "__main__":
    sys.exit(main())
