"""Building blocks of parameterised SQL: every value is a bound parameter, every identifier comes
from a whitelist in code. Nothing a client sends is ever spliced into SQL text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo


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
