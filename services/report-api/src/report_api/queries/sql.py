"""Building blocks of parameterised SQL: every value is a bound parameter, every identifier comes
from a whitelist in code. Nothing a client sends is ever spliced into SQL text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class Params:
    """Collects bound values and hands out their `$n` placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any, cast: str | None = None) -> str:
        self.values.append(value)
        placeholder = f"${len(self.values)}"
        return f"{placeholder}::{cast}" if cast else placeholder


def any_of(
    params: Params, filters: Mapping[str, Sequence[str]], columns: Mapping[str, str]
) -> list[str]:
    """`column = ANY($n)` for each non-empty filter; `columns` maps filter names to SQL."""
    return [
        f"{columns[name]} = ANY({params.add(list(values), 'text[]')})"
        for name, values in filters.items()
        if values
    ]


def where(clauses: Sequence[str]) -> str:
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


def local_iso(value: datetime | None, zone: ZoneInfo) -> str | None:
    """An instant as RFC 3339 in `zone` (None stays None): how rows show times."""
    return None if value is None else value.astimezone(zone).isoformat()


def timer_local_iso(value: datetime | None, timezone: str | None) -> str | None:
    """An instant as RFC 3339 in a timer's own zone (`due_local`): None when there is no instant,
    or the row names no zone this machine knows (rows of engines that did not say)."""
    if value is None or timezone is None:
        return None
    zone = _zone(timezone)
    return None if zone is None else value.astimezone(zone).isoformat()


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
