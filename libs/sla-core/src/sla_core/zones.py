"""The time zone a calendar's hours are read in: fixed, or taken from the ticket (SPEC section 8).

A calendar spec's `timezone` is an IANA name, or `{from: <ticket attribute>, default: <IANA
name>}`. The second form makes the zone a property of the timer, chosen when it starts: the
engine calls `Calendar.resolve(ticket attributes)` and gets a `ZoneChoice`, whose calendar is the
policy calendar read in the zone in force. The choice is stored with the timer as its zone name
(`ZoneChoice.zone`); `Calendar.in_zone(zone)` rebuilds the same calendar on restore.

Choosing never raises: a missing, empty or unusable ticket value falls back to the default and
says so (`fallback`, and `invalid_zone` for a value that was there but unusable). A usable value
is an IANA key that `zoneinfo` finds, other than the machine-dependent "localtime" and
"posixrules"; surrounding blanks are ignored.

Every variant of a calendar is built once and shared by the calendar and all its variants, so
the same zone gives the identical Calendar object; choosing for a value seen before costs one
dict lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sla_core.hours import CalendarError

C = TypeVar("C")
ZoneSource = Literal["calendar", "ticket", "default"]

# Values that name a zone file but not a place: they would follow the server's settings.
_NOT_PLACES = frozenset({"localtime", "posixrules"})
# Unusable ticket values are remembered up to this many, so a flood of odd values costs a
# zoneinfo lookup each but no memory.
_MAX_REMEMBERED_INVALID = 1024
_MAX_INVALID_TEXT = 100


@dataclass(frozen=True)
class ZoneFromTicket:
    """The zone is the value of a ticket attribute (e.g. customer_timezone), else `default`."""

    attribute: str
    default: str


@dataclass(frozen=True)
class ZoneChoice(Generic[C]):
    """The calendar a timer uses and why: `zone` is its IANA name; `source` is "calendar" (the
    calendar's zone is fixed), "ticket" (the ticket's attribute named a usable zone) or
    "default" (the attribute was missing or unusable: `fallback` is True then, and
    `invalid_zone` holds an unusable value as text, None when the attribute was missing)."""

    calendar: C
    zone: str
    source: ZoneSource
    fallback: bool = False
    invalid_zone: str | None = None


def parse_timezone(name: str, raw: object) -> tuple[str, ZoneFromTicket | None]:
    """Read a calendar spec's `timezone`: the zone in force by default, and where a ticket may
    name another. Omitted is UTC. Raises CalendarError for any other shape."""
    if raw is None or raw == "":
        return "UTC", None
    if isinstance(raw, str):
        return raw, None
    if isinstance(raw, Mapping):
        unknown = [key for key in raw if key not in ("from", "default")]
        attribute, default = raw.get("from"), raw.get("default")
        if not unknown and isinstance(attribute, str) and attribute and isinstance(default, str):
            return default, ZoneFromTicket(attribute, default)
    raise CalendarError(
        f"calendar {name!r}: timezone must be an IANA name like Europe/Oslo or "
        f"{{from: <ticket attribute>, default: <IANA name>}}, not {raw!r}",
        ("timezone",),
    )


def usable_zone(value: str) -> bool:
    """Whether a text names a zone a ticket may choose (see the module docstring)."""
    if value in _NOT_PLACES:
        return False
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


class ZoneVariants(Generic[C]):
    """The variants of one policy calendar by zone, and the choices made for ticket values.

    `make(zone)` builds the variant of the root in another zone. Shared by the root and every
    variant; dict updates are atomic under the GIL, and a race builds a variant twice at worst,
    the first stored one being kept.
    """

    def __init__(
        self, root: C, zone: str, source: ZoneFromTicket | None, make: Callable[[str], C]
    ) -> None:
        self._make = make
        self._source = source
        self._variants: dict[str, C] = {zone: root}
        if source is None:
            self._fixed: ZoneChoice[C] | None = ZoneChoice(root, zone, "calendar")
            self._missing = ZoneChoice(root, zone, "calendar")
        else:
            self._fixed = None
            self._missing = ZoneChoice(root, zone, "default", fallback=True)
        self._choices: dict[str, ZoneChoice[C]] = {}
        self._invalid = 0

    def in_zone(self, zone: str) -> C:
        """The variant in `zone`, built on first use; CalendarError if the zone is unknown."""
        got = self._variants.get(zone)
        if got is None:
            got = self._variants.setdefault(zone, self._make(zone))
        return got

    def choose(self, attrs: Mapping[str, Any]) -> ZoneChoice[C]:
        """The choice for a ticket's attributes (see `ZoneChoice`); never raises."""
        if self._fixed is not None:
            return self._fixed
        assert self._source is not None
        value = attrs.get(self._source.attribute)
        if not isinstance(value, str):
            if value is None:
                return self._missing
            return self._rejected(repr(value)[:_MAX_INVALID_TEXT])
        got = self._choices.get(value)
        if got is None:
            got = self._choose_new(value)
        return got

    def _choose_new(self, value: str) -> ZoneChoice[C]:
        zone = value.strip()
        if not zone:
            return self._missing
        if not usable_zone(zone):
            choice = self._rejected(value[:_MAX_INVALID_TEXT])
            if self._invalid < _MAX_REMEMBERED_INVALID:
                self._invalid += 1
                self._choices[value] = choice
            return choice
        choice = ZoneChoice(self.in_zone(zone), zone, "ticket")
        if value == zone:  # blanks around a name would make the cache unbounded
            self._choices[value] = choice
        return choice

    def _rejected(self, text: str) -> ZoneChoice[C]:
        missing = self._missing
        return ZoneChoice(missing.calendar, missing.zone, "default", True, text)
