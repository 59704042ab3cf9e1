"""The what-if's report: the live and the candidate compliance figures of each group side by
side, and their difference. No I/O: both sides come from the same compliance query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from report_api.queries.compliance import ComplianceResult, Figures, group_value

SIDE_FIGURES = ("fulfilled", "missed", "compliance_ratio")


def side(figures: Figures) -> dict[str, Any]:
    """The figures of one side that the what-if shows."""
    report = figures.as_report()
    return {k: report[k] for k in SIDE_FIGURES}


def difference(live: dict[str, Any], candidate: dict[str, Any]) -> dict[str, Any]:
    """Candidate less live, figure by figure; a ratio's difference is None when either side
    has no ratio (no timer counted), and rounded as the ratios are (4 places)."""
    lr, cr = live["compliance_ratio"], candidate["compliance_ratio"]
    return {
        "fulfilled": candidate["fulfilled"] - live["fulfilled"],
        "missed": candidate["missed"] - live["missed"],
        "compliance_ratio": None if lr is None or cr is None else round(cr - lr, 4),
    }


def side_by_side(
    live: ComplianceResult, candidate: ComplianceResult, group_by: Sequence[str]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows (every group either side has, ordered by the group keys as the report orders
    them, a side without the group showing zeros) and the totals."""
    sides: dict[tuple[Any, ...], dict[str, Figures]] = {}
    for name, result in (("live", live), ("candidate", candidate)):
        for group, figures in result.rows:
            key = tuple(group[k] for k in group_by)
            sides.setdefault(key, {})[name] = figures
    rows = []
    for key in sorted(sides, key=_sort_key):
        found = sides[key]
        live_side = side(found.get("live", Figures()))
        candidate_side = side(found.get("candidate", Figures()))
        rows.append(
            {
                **{k: group_value(v) for k, v in zip(group_by, key, strict=True)},
                "live": live_side,
                "candidate": candidate_side,
                "difference": difference(live_side, candidate_side),
            }
        )
    live_totals, candidate_totals = side(live.totals), side(candidate.totals)
    totals = {
        "live": live_totals,
        "candidate": candidate_totals,
        "difference": difference(live_totals, candidate_totals),
    }
    return rows, totals


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    # NULL groups (no department, say) last, as PostgreSQL's ORDER BY puts them
    return tuple((v is None, "" if v is None else v) for v in key)


def differs(rows: Sequence[dict[str, Any]], changed_timers: int) -> bool:
    """Whether the candidate differs from the live report at all (the self-check's verdict)."""
    if changed_timers:
        return True
    return any(
        row["difference"]["fulfilled"] or row["difference"]["missed"] or _ratio_moved(row)
        for row in rows
    )


def _ratio_moved(row: dict[str, Any]) -> bool:
    return bool(row["live"]["compliance_ratio"] != row["candidate"]["compliance_ratio"])
