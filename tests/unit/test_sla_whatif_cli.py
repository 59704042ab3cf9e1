"""`sla what-if` and `sla verify` without infrastructure: the progress bar, the side-by-side
table, the changed timers and what the self-check counts as a difference."""

from __future__ import annotations

from typing import Any

from sla_devtools.cli import parser
from sla_devtools.whatif import differences, progress_bar, report_lines, ticket_lines


def sides(live: tuple[int, int, float | None], candidate: tuple[int, int, float | None]) -> Any:
    def side(f: int, m: int, r: float | None) -> dict[str, Any]:
        return {"fulfilled": f, "missed": m, "compliance_ratio": r}

    lr, cr = live[2], candidate[2]
    return {
        "live": side(*live),
        "candidate": side(*candidate),
        "difference": side(
            candidate[0] - live[0],
            candidate[1] - live[1],
            None if lr is None or cr is None else round(cr - lr, 4),
        ),
    }


RESULT = {
    "group_by": ["level"],
    "rows": [
        {"level": "gold", **sides((0, 1, 0.0), (0, 1, 0.0))},
        {"level": "standard", **sides((1, 9, 0.1), (3, 7, 0.3))},
    ],
    "totals": sides((1, 10, 0.0909), (3, 8, 0.2727)),
    "changed_tickets": 2,
}


def test_the_progress_bar_fills_with_the_fraction() -> None:
    half = progress_bar({"events_done": 4500, "events_total": 9000, "fraction": 0.5}, "running")
    assert half == "[" + "#" * 15 + "." * 15 + "]  50%  4,500/9,000 events  running"
    queued = progress_bar({"events_done": 0, "events_total": None, "fraction": None}, "queued")
    assert queued == "[" + "." * 30 + "]   ?%  0 events  queued"


def test_the_table_shows_each_group_and_the_totals_side_by_side() -> None:
    head, gold, standard, total = report_lines(RESULT)
    assert head.split() == ["LEVEL", "LIVE", "CANDIDATE", "DIFFERENCE"]
    assert gold.split() == ["gold", "0/1/0.0000", "0/1/0.0000", "+0/+0/+0.0000"]
    assert standard.split() == ["standard", "1/9/0.1000", "3/7/0.3000", "+2/-2/+0.2000"]
    assert total.split() == ["total", "1/10/0.0909", "3/8/0.2727", "+2/-2/+0.1818"]


def test_a_timer_on_one_side_only_shows_none_on_the_other() -> None:
    item = {
        "ticket_id": "T-1",
        "timer_id": "T-1:first_answer:1",
        "metric": "first_answer",
        "cycle": 1,
        "level": "standard",
        "live": None,
        "live_due_at": None,
        "candidate": "fulfilled",
        "candidate_due_at": "2026-11-16T10:00:00+00:00",
    }
    _, line = ticket_lines([item])
    assert line.split()[:6] == ["T-1", "first_answer", "1", "standard", "(none)", "-"]


def test_the_self_check_counts_changed_timers_then_differing_groups() -> None:
    assert differences(RESULT) == 2
    same = {**RESULT, "changed_tickets": 0, "rows": [RESULT["rows"][0]]}
    assert differences(same) == 0
    moved = {**RESULT, "changed_tickets": 0}  # figures differ though no timer listed
    assert differences(moved) == 1


def test_the_commands_take_the_range_and_the_groups() -> None:
    args = parser().parse_args(
        ["what-if", "c.yaml", "--from", "2026-11-01", "--to", "2026-12-01", "--group-by", "date"]
    )
    assert (args.file, args.from_, args.to, args.group_by, args.tz) == (
        "c.yaml",
        "2026-11-01",
        "2026-12-01",
        "date",
        "UTC",
    )
    verify = parser().parse_args(["verify", "--from", "2026-11-01", "--to", "2026-11-02"])
    assert verify.group_by == "level"
