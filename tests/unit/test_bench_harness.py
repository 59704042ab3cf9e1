"""The benchmark harness's pure parts at tiny sizes: structure and arithmetic, never timing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench import bench_business_time, bench_forgetting, bench_timers, workload
from bench.__main__ import select
from bench.harness import (
    METRIC_NAMES,
    PROFILES,
    Goal,
    Metric,
    distribution_ms,
    interleaved_rates,
    merge_results,
    percentile,
    ratio_of,
    render_markdown,
    write_results,
)
from sla_core.partition.engine import PartitionEngine


def metric(name: str = "csv_vs_copy", value: float = 50.0, reference: float = 100.0) -> Metric:
    return Metric(name, value, "rows/s", reference, "COPY", Goal("ratio", ">=", 0.5))


def test_ratio_is_value_over_reference_and_none_without_a_reference() -> None:
    assert ratio_of(50, 100) == 0.5
    assert ratio_of(1, 0) is None
    assert metric().ratio == 0.5


@pytest.mark.parametrize(
    ("goal", "value", "ratio", "met"),
    [
        (Goal("ratio", ">=", 0.5), 1.0, 0.5, True),
        (Goal("ratio", ">=", 0.5), 1.0, 0.49, False),
        (Goal("value", "<=", 50), 50.0, 9.0, True),
        (Goal("value", "<=", 50), 50.1, 0.1, False),
        (Goal("ratio", ">=", 2), 1.0, None, None),
    ],
)
def test_goals_bound_the_ratio_or_the_value(
    goal: Goal, value: float, ratio: float | None, met: bool | None
) -> None:
    assert goal.met(value, ratio) is met


def test_a_goal_with_an_unknown_operator_is_refused() -> None:
    with pytest.raises(ValueError):
        Goal("ratio", ">", 1)


def test_metric_json_has_the_fields_tools_read() -> None:
    data = metric().to_json()
    assert {"name", "value", "unit", "reference", "ratio", "goal"} <= set(data)
    assert data["ratio"] == 0.5
    assert data["met"] is True
    assert data["goal"]["text"] == "ratio >= 0.5"


def test_percentiles_interpolate_between_ranks() -> None:
    samples = [float(x) for x in range(1, 101)]
    assert percentile(samples, 50) == pytest.approx(50.5)
    assert percentile(samples, 100) == 100
    assert percentile([3.0], 99) == 3.0
    dist = distribution_ms([0.001, 0.002, 0.003])
    assert dist["p50_ms"] == 2.0
    assert dist["max_ms"] == 3.0
    assert dist["count"] == 3


def test_interleaved_rates_run_every_contender_each_repeat() -> None:
    calls: list[str] = []

    def work(name: str) -> int:
        calls.append(name)
        return 10

    rates = interleaved_rates({"a": lambda: work("a"), "b": lambda: work("b")}, 3)
    assert calls == ["a", "b"] * 3
    assert set(rates) == {"a", "b"}
    assert len(rates["a"][1]) == 3
    assert rates["a"][0] > 0


def test_fresh_results_replace_old_ones_by_name_in_canonical_order() -> None:
    old = [{"name": "csv_vs_copy", "value": 1}, {"name": "engine_throughput_vs_relay", "value": 2}]
    fresh = [{"name": "csv_vs_copy", "value": 3}]
    merged = merge_results(old, fresh)
    assert [m["name"] for m in merged] == ["engine_throughput_vs_relay", "csv_vs_copy"]
    assert merged[1]["value"] == 3


def test_write_results_writes_json_and_markdown(tmp_path: Path) -> None:
    info = {
        "date": "2026-11-23 12:00 UTC",
        "commit": "abc1234",
        "profile": "tiny",
        "command": "python -m bench --profile tiny",
        "machine": {"cores": 2, "memory_gib": 8.0, "python": "3.11", "load_avg_1_5_15": [1, 1, 1]},
    }
    write_results(tmp_path, [metric()], info, "## Notes\n\nwhere time goes")
    data = json.loads((tmp_path / "results.json").read_text())
    assert [m["name"] for m in data] == ["csv_vs_copy"]
    assert data[0]["run"]["commit"] == "abc1234"
    text = (tmp_path / "RESULTS.md").read_text()
    assert "`csv_vs_copy`" in text and "abc1234" in text and "where time goes" in text
    assert render_markdown(data, "").count("| `csv_vs_copy` |") == 1


def test_select_knows_every_metric_name_and_refuses_others() -> None:
    assert select(None) == set(METRIC_NAMES)
    assert select("csv_vs_copy, compliance_p95_ms") == {"csv_vs_copy", "compliance_p95_ms"}
    with pytest.raises(SystemExit):
        select("fastest_ever")


def test_profiles_name_a_quick_and_a_full_size() -> None:
    assert {"quick", "full"} <= set(PROFILES)
    assert PROFILES["full"].report_rows >= PROFILES["quick"].report_rows


def test_business_time_benchmark_agrees_with_businesstimedelta_at_tiny_size() -> None:
    profile = PROFILES["tiny"]
    metrics = bench_business_time.run(profile, set(bench_business_time.METRICS))
    assert [m.name for m in metrics] == list(bench_business_time.METRICS)
    assert metrics[0].details["mismatched_dues_plain_vs_businesstimedelta"] == 0
    assert metrics[0].details["mismatched_dues_vs_oracle"] == 0
    assert all(m.ratio is not None and m.ratio > 0 for m in metrics)


def test_churn_benchmark_reports_both_sides_at_tiny_size() -> None:
    [churn] = bench_timers.run(PROFILES["tiny"], {"timer_churn_vs_asyncio"})
    assert churn.name == "timer_churn_vs_asyncio"
    assert churn.value > 0 and churn.reference > 0


def test_workload_dues_fall_in_the_window() -> None:
    first_due = datetime(2026, 1, 5, 12, tzinfo=UTC)
    engine = PartitionEngine(0, workload.policy())
    events = workload.tickets_due_in(50, first_due, timedelta(seconds=10))
    workload.fill_engine(engine, events, wall=first_due)
    assert engine.open_timers == 50 * workload.TIMERS_PER_TICKET
    due_us = engine.next_alarm_us()
    assert due_us is not None
    assert due_us == int(first_due.timestamp() * 1_000_000)
    breaches = engine.advance(due_us + 10_000_001)
    assert sum(e.type == "sla.breached" for e in breaches) == 100


def test_forgetting_benchmark_holds_only_the_window_at_tiny_size() -> None:
    # 6,000 tickets, one every 31.5 s of event time: about 2.2 days, past two 24 h windows
    result = bench_forgetting.side(6_000, 3_000, bench_forgetting.WINDOW)
    window_tickets = 86_400 / bench_forgetting.STEP.total_seconds()
    assert result["events"] == 3 * 6_000
    assert result["tickets_held_after_last_close"] == result["of_them_within_window"]
    assert result["tickets_held_after_last_close"] <= window_tickets + 1
    assert result["open_timers"] == 0 and result["forgotten_unsaved"] == 0
    kept = bench_forgetting.side(2_000, 200, bench_forgetting.NO_FORGETTING)
    assert kept["tickets_held_after_last_close"] == 2_000
