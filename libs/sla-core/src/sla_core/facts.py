"""A ticket's facts as rules and conditions read them, without copying its attributes.

The facts are the ticket's attributes plus `created_at`, `changed_at`, `deleted` and the fields
the event being applied changed (`rules.CHANGED`); those four win over an attribute of the same
name. Rules look fields up one at a time, so a view costs less than a merged dict built for
every event.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sla_core.rules import CHANGED

_MISSING: Any = object()


class TicketFacts(Mapping[str, Any]):
    """A read-only view of a ticket's facts at one moment."""

    __slots__ = ("_attrs", "_extra")

    def __init__(
        self,
        attrs: Mapping[str, Any],
        created_at: datetime | None,
        changed_at: datetime | None,
        deleted: bool,
        changed: frozenset[str],
    ) -> None:
        self._attrs = attrs
        self._extra = {
            "created_at": created_at,
            "changed_at": changed_at,
            "deleted": deleted,
            CHANGED: changed,
        }

    def get(self, key: str, default: Any = None) -> Any:
        value = self._extra.get(key, _MISSING)
        if value is _MISSING:
            return self._attrs.get(key, default)
        return value

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        yield from self._extra
        yield from (k for k in self._attrs if k not in self._extra)

    def __len__(self) -> int:
        return len(self._extra) + sum(1 for k in self._attrs if k not in self._extra)
