"""The what-if's side-by-side report: groups from either side, zeros where a side has none,
differences candidate less live, and the self-check's verdict."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from report_api.queries.compliance import ComplianceResult, Figures
from report_api.whatif.compare import differs, side_by_side


def figures(fulfilled: int, missed: int) -> Figures:
    return Figures(
        fulfilled_count=fulfilled,
        fulfilled_sum=Decimal(60 * fulfilled),
        missed_count=missed,
        missed_ended_count=missed,
        missed_sum=Decimal(600 * missed),
    )


def result(rows: list[tuple[dict[str, object], Figures]]) -> ComplianceResult:
    totals = Figures()
    for _, f in rows:
        totals.add(f)
    return ComplianceResult(rows=rows, totals=totals)


def test_groups_of_either_side_side_by_side_in_the_reports_order() -> None:
    day = date(2026, 11, 16)
    live = result(
        [
            ({"date": day, "level": "gold"}, figures(1, 1)),
            ({"date": day, "level": "standard"}, figures(1, 3)),
        ]
    )
    candidate = result(
        [
            ({"date": day, "level": None}, figures(0, 1)),
            ({"date": day, "level": "standard"}, figures(3, 1)),
        ]
    )
    rows, totals = side_by_side(live, candidate, ["date", "level"])
    assert [(r["date"], r["level"]) for r in rows] == [
        ("2026-11-16", "gold"),
        ("2026-11-16", "standard"),
        ("2026-11-16", None),  # no level: last, as PostgreSQL orders NULLs
    ]
    gold, standard, none = rows
    assert gold["candidate"] == {"fulfilled": 0, "missed": 0, "compliance_ratio": None}
    assert gold["difference"] == {"fulfilled": -1, "missed": -1, "compliance_ratio": None}
    assert standard["live"] == {"fulfilled": 1, "missed": 3, "compliance_ratio": 0.25}
    assert standard["candidate"] == {"fulfilled": 3, "missed": 1, "compliance_ratio": 0.75}
    assert standard["difference"] == {"fulfilled": 2, "missed": -2, "compliance_ratio": 0.5}
    assert none["live"]["compliance_ratio"] is None
    assert totals["live"] == {"fulfilled": 2, "missed": 4, "compliance_ratio": 0.3333}
    assert totals["candidate"] == {"fulfilled": 3, "missed": 2, "compliance_ratio": 0.6}
    assert totals["difference"] == {"fulfilled": 1, "missed": -2, "compliance_ratio": 0.2667}
    assert differs(rows, 0)


def test_the_same_figures_are_no_difference() -> None:
    same = result([({"level": "standard"}, figures(2, 1))])
    rows, totals = side_by_side(same, same, ["level"])
    assert rows[0]["difference"] == {"fulfilled": 0, "missed": 0, "compliance_ratio": 0.0}
    assert totals["difference"]["fulfilled"] == 0
    assert not differs(rows, 0)
    assert differs(rows, 1)  # a changed timer is a difference even when the counts balance
