"""Building blocks of parameterised SQL: every value is a bound parameter, every identifier comes
from a whitelist in code. Nothing a client sends is ever spliced into SQL text."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


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
