"""Plain-text tables for the terminal: the breach stream and one ticket's timers.

Pure functions from decoded JSON to rows of cells; the CLI prints them. Times are shown in the
terminal's local zone, durations as `1h 02m`, `3m 05s` or `40s`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Column:
    title: str
    width: int
    right: bool = False


BREACH_COLUMNS = (
    Column("time", 14),
    Column("type", 8),
    Column("ticket", 16),
    Column("metric", 12),
    Column("level", 10),
    Column("department", 11),
    Column("agent", 10),
    Column("due", 14),
    Column("over by", 9, right=True),
)

TIMER_COLUMNS = (
    Column("metric", 12),
    Column("cycle", 5, right=True),
    Column("level", 10),
    Column("state", 16),
    Column("started", 14),
    Column("due", 14),
    Column("stopped", 14),
    Column("sla left", 9, right=True),
    Column("agent", 10),
)


def duration(seconds: float | None) -> str:
    """`1h 02m`, `3m 05s`, `40s`, `2d 03h`; negative values get a minus sign."""
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours:02d}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s"
    return f"{sign}{secs}s"


def moment(value: str | None) -> str:
    """An RFC 3339 time as `MM-DD HH:MM:SS` in the local zone; `-` when absent."""
    if not value:
        return "-"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return parsed.astimezone().strftime("%m-%d %H:%M:%S")


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def breach_row(event: Mapping[str, Any]) -> list[str]:
    """The cells of one `sla.warning` / `sla.breached` event (SPEC section 5)."""
    data = event.get("data") or {}
    remaining = data.get("remaining_seconds")
    kind = str(event.get("type", "")).removeprefix("sla.")
    if kind == "breached":
        over = duration(max(-float(remaining), 0.0)) if remaining is not None else "-"
    else:
        over = f"{duration(remaining)} left" if remaining is not None else "-"
    return [
        moment(event.get("time")),
        kind,
        _text(data.get("ticket_id") or event.get("subject")),
        _text(data.get("metric")),
        _text(data.get("level")),
        _text(data.get("department")),
        _text(data.get("agent")),
        moment(data.get("due_at")),
        over,
    ]


def timer_row(timer: Mapping[str, Any]) -> list[str]:
    """The cells of one timer of `GET /v1/tickets/{id}/sla`."""
    state = str(timer.get("state", ""))
    if timer.get("paused"):
        state += " (paused)"
    return [
        _text(timer.get("metric")),
        _text(timer.get("cycle")),
        _text(timer.get("level")),
        state,
        moment(timer.get("started_at")),
        moment(timer.get("due_at")),
        moment(timer.get("stopped_at")),
        duration(timer.get("sla_seconds")),
        _text(timer.get("agent")),
    ]


def render(columns: Sequence[Column], cells: Sequence[str]) -> str:
    """One line: each cell padded (or cut with `…`) to its column's width."""
    parts = []
    for column, cell in zip(columns, cells, strict=True):
        text = cell if len(cell) <= column.width else cell[: column.width - 1] + "…"
        parts.append(text.rjust(column.width) if column.right else text.ljust(column.width))
    return "  ".join(parts).rstrip()


def header(columns: Sequence[Column]) -> str:
    return render(columns, [c.title.upper() for c in columns])
