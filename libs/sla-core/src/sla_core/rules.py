"""SLA rules: conditions on a ticket's attributes that choose its SLA level.

A rule is `{name, when, then: {set_level, stop}}`. `when` is a condition tree:

- a test `{field: F, op: O, value: V}`, or
- a combinator `{all: [c, ...]}`, `{any: [c, ...]}` (non-empty lists), `{not: c}`, nested freely.

**Facts.** Conditions are evaluated against *facts*: a mapping with the ticket's `data.ticket`
attributes (SPEC section 2) plus `created_at` and `changed_at` (aware datetimes; ISO 8601 strings
with an offset are read too, naive ones taken as UTC) and `deleted` (bool). `custom_fields` is a
mapping; `custom_fields.<name>` reads its key `<name>` (everything after the first dot).

**Fields and their kinds** (an unknown field is a load-time problem):

- string: source status priority department agent agent_status requester customer_group
  referrer_url last_message_by
- list: tags
- object: custom_fields
- bool: created_from_invitation deleted
- timestamp: created_at changed_at
- any: custom_fields.<name> (a JSON value: string, number, bool, list)

**Operators** (the value's type is checked at load time against the field's kind):

- `eq`, `ne`: equality, case-sensitive. On a list field the value is a list and the two are
  compared as sets (order and repeats ignored). `true` never equals `1`.
- `in`, `not_in`: the value is a non-empty list; true when the field's value is one of its items
  (for a list field: when any of its items is).
- `contains`, `not_contains`: on a list, membership; on a string, substring; on `custom_fields`,
  the key is present.
- `starts_with`, `ends_with`: string prefix / suffix. `matches`: `re.search` with the value as a
  regular expression, compiled at load time (so a bad pattern is a load-time problem). On a list
  these three hold when any item satisfies them.
- `exists`: the value (default `true`) says whether the field must be present and not null.
  An empty string or list exists.
- `gt`, `gte`, `lt`, `lte`: order. Numbers compare with numbers, strings with strings
  (lexicographically), timestamps with an ISO 8601 datetime value that has a UTC offset. Values of
  different types never compare (false).
- `changed`: the event being applied changed the field (`value: false`: it did not; default
  true). A field changes when `data.ticket` carries it with another value than the ticket had;
  `custom_fields.<name>` changes with that key. Outside an event (a time flip) nothing changed.
- `older_than`, `newer_than`: the value is a duration (`2h`, or seconds); they compare the age of
  a timestamp, `now - field`, where `now` is the *event's* time passed in (never the wall clock):
  `created_at older_than 2h` is `now - created_at > 2h`, `newer_than` is `< 2h`. This age is
  wall-clock time, not business time.

**Missing values.** A field that is absent or null is *missing*. Every operator is false on a
missing value except the negative ones, `ne`, `not_in` and `not_contains` (true: they are the
negation of `eq`, `in`, `contains`), and `exists` (which tests exactly that). A value of a type
the operator cannot use (a number for `starts_with`, a string for `older_than`) makes the positive
operator false and its negation true; evaluation never raises.
"""

from __future__ import annotations

import enum
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from typing import Any

from sla_core.durations import format_duration
from sla_core.events import TEXT_ATTRIBUTES
from sla_core.policy_yaml import NodePath, format_path


class FieldKind(enum.Enum):
    """What a rule field holds, which decides the operators and values it accepts."""

    STRING = "string"
    LIST = "list"
    OBJECT = "object"
    BOOL = "bool"
    TIMESTAMP = "timestamp"
    ANY = "any"


CUSTOM_FIELD_PREFIX = "custom_fields."

FIELDS: Mapping[str, FieldKind] = {
    **{name: FieldKind.STRING for name in TEXT_ATTRIBUTES},
    "tags": FieldKind.LIST,
    "custom_fields": FieldKind.OBJECT,
    "created_from_invitation": FieldKind.BOOL,
    "deleted": FieldKind.BOOL,
    "created_at": FieldKind.TIMESTAMP,
    "changed_at": FieldKind.TIMESTAMP,
}

OPERATORS: tuple[str, ...] = (
    "eq",
    "ne",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "matches",
    "exists",
    "gt",
    "gte",
    "lt",
    "lte",
    "older_than",
    "newer_than",
    "changed",
)
# facts[CHANGED] holds the fields the event being applied changed (SPEC section 8, `changed`)
CHANGED = "__changed__"
_NEGATIONS = {"ne": "eq", "not_in": "in", "not_contains": "contains"}
_ORDER = ("gt", "gte", "lt", "lte")
_TEXT = ("starts_with", "ends_with", "matches")
_AGE = ("older_than", "newer_than")

_KIND_OPERATORS: Mapping[FieldKind, frozenset[str]] = {
    FieldKind.STRING: frozenset(OPERATORS) - set(_AGE),
    FieldKind.LIST: frozenset(OPERATORS) - set(_AGE) - set(_ORDER),
    FieldKind.OBJECT: frozenset({"contains", "not_contains", "exists", "changed"}),
    FieldKind.BOOL: frozenset({"eq", "ne", "exists", "changed"}),
    FieldKind.TIMESTAMP: frozenset({"eq", "ne", "exists", "changed", *_ORDER, *_AGE}),
    FieldKind.ANY: frozenset(OPERATORS),
}


def field_kind(name: str) -> FieldKind | None:
    """The kind of a rule field, or None when the name is not a rule field."""
    if name.startswith(CUSTOM_FIELD_PREFIX) and len(name) > len(CUSTOM_FIELD_PREFIX):
        return FieldKind.ANY
    return FIELDS.get(name)


class RuleError(ValueError):
    """A condition that cannot be compiled; `problems` lists (node path, message) pairs."""

    def __init__(self, problems: Sequence[tuple[NodePath, str]]) -> None:
        self.problems = list(problems)
        super().__init__(
            "\n".join(f"{format_path(path) or '(condition)'}: {msg}" for path, msg in problems)
        )


class Condition(ABC):
    """A compiled condition: a pure predicate over a ticket's facts at an instant."""

    @abstractmethod
    def evaluate(self, facts: Mapping[str, Any], now: datetime) -> bool:
        """Whether the condition holds for `facts` at event time `now`; never raises."""


@dataclass(frozen=True)
class FieldTest(Condition):
    """`{field, op, value}`: one operator applied to one field."""

    field: str
    op: str
    value: Any
    kind: FieldKind
    # a string field tested with in/not_in: its values as a set, for a hash lookup
    _members: frozenset[str] | None = dataclass_field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.kind is FieldKind.STRING and self.op in ("in", "not_in"):
            object.__setattr__(self, "_members", frozenset(self.value))

    def evaluate(self, facts: Mapping[str, Any], now: datetime) -> bool:
        """Apply the operator to the field's value in `facts` (see the module docstring)."""
        actual = lookup(facts, self.field)
        members = self._members
        if members is not None and type(actual) is str:
            return (actual in members) is (self.op == "in")
        if self.kind is FieldKind.TIMESTAMP or (self.kind is FieldKind.ANY and self.op in _AGE):
            actual = _as_datetime(actual)
        if self.op == "exists":
            return (actual is not None) is self.value
        if self.op == "changed":
            return (self.field in facts.get(CHANGED, ())) is self.value
        positive = _NEGATIONS.get(self.op, self.op)
        holds = actual is not None and _APPLY[positive](actual, self.value, now)
        return holds if positive == self.op else not holds

    def __str__(self) -> str:
        if self.op == "changed":
            return f"{self.field} changed" if self.value else f"{self.field} not changed"
        if self.op in _AGE:
            return f"{self.field} {self.op} {format_duration(self.value)}"
        value = self.value.pattern if isinstance(self.value, re.Pattern) else self.value
        return f"{self.field} {self.op} {value!r}"


@dataclass(frozen=True)
class AllOf(Condition):
    """`{all: [...]}`: every condition holds."""

    conditions: tuple[Condition, ...]

    def evaluate(self, facts: Mapping[str, Any], now: datetime) -> bool:
        """True when every member holds (evaluated in order, stopping at the first false)."""
        return all(c.evaluate(facts, now) for c in self.conditions)

    def __str__(self) -> str:
        return "(" + " and ".join(map(str, self.conditions)) + ")"


@dataclass(frozen=True)
class AnyOf(Condition):
    """`{any: [...]}`: at least one condition holds."""

    conditions: tuple[Condition, ...]

    def evaluate(self, facts: Mapping[str, Any], now: datetime) -> bool:
        """True when some member holds (evaluated in order, stopping at the first true)."""
        return any(c.evaluate(facts, now) for c in self.conditions)

    def __str__(self) -> str:
        return "(" + " or ".join(map(str, self.conditions)) + ")"


@dataclass(frozen=True)
class Not(Condition):
    """`{not: ...}`: the condition does not hold."""

    condition: Condition

    def evaluate(self, facts: Mapping[str, Any], now: datetime) -> bool:
        """The negation of the inner condition."""
        return not self.condition.evaluate(facts, now)

    def __str__(self) -> str:
        return f"not {self.condition}"


@dataclass(frozen=True)
class Rule:
    """A named rule: when `condition` holds, set the level (if `set_level`) and maybe stop."""

    name: str
    condition: Condition
    set_level: str | None = None
    stop: bool = False

    def matches(self, facts: Mapping[str, Any], now: datetime) -> bool:
        """Whether the rule's condition holds for `facts` at event time `now`."""
        return self.condition.evaluate(facts, now)


# --- evaluation ---------------------------------------------------------------------------


def lookup(facts: Mapping[str, Any], name: str) -> Any:
    """The value of a rule field in `facts` (`custom_fields.<name>` reads that key); None when
    missing."""
    if name.startswith(CUSTOM_FIELD_PREFIX):
        custom = facts.get("custom_fields")
        if not isinstance(custom, Mapping):
            return None
        return custom.get(name[len(CUSTOM_FIELD_PREFIX) :])
    return facts.get(name)


def _as_datetime(value: Any) -> Any:
    """A datetime fact made aware (naive = UTC); an ISO string parsed; anything else unchanged."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return bool(a == b)


def _eq(actual: Any, expected: Any, now: datetime) -> bool:
    if isinstance(expected, tuple):
        if not isinstance(actual, list | tuple):
            return False
        return all(any(_same(a, e) for e in expected) for a in actual) and all(
            any(_same(a, e) for a in actual) for e in expected
        )
    return _same(actual, expected)


def _in(actual: Any, expected: Any, now: datetime) -> bool:
    items = actual if isinstance(actual, list | tuple) else (actual,)
    return any(_same(item, e) for item in items for e in expected)


def _contains(actual: Any, expected: Any, now: datetime) -> bool:
    if isinstance(actual, str):
        return isinstance(expected, str) and expected in actual
    if isinstance(actual, list | tuple):
        return any(_same(item, expected) for item in actual)
    if isinstance(actual, Mapping):
        return expected in actual
    return False


def _text(test: Callable[[str, Any], bool]) -> Callable[[Any, Any, datetime], bool]:
    def check(actual: Any, expected: Any, now: datetime) -> bool:
        items = actual if isinstance(actual, list | tuple) else (actual,)
        return any(isinstance(item, str) and test(item, expected) for item in items)

    return check


def _order(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any, datetime], bool]:
    def check(actual: Any, expected: Any, now: datetime) -> bool:
        if isinstance(actual, bool) or not _comparable(actual, expected):
            return False
        return compare(actual, expected)

    return check


def _comparable(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return True
    return isinstance(a, str | datetime) and type(a) is type(b)


def _age(longer: bool) -> Callable[[Any, Any, datetime], bool]:
    def check(actual: Any, expected: Any, now: datetime) -> bool:
        if not isinstance(actual, datetime):
            return False
        try:
            age = (now - actual).total_seconds()
        except TypeError:  # a naive `now`: the caller broke the contract; the rule does not hold
            return False
        return bool(age > expected) if longer else bool(age < expected)

    return check


_APPLY: Mapping[str, Callable[[Any, Any, datetime], bool]] = {
    "eq": _eq,
    "in": _in,
    "contains": _contains,
    "starts_with": _text(str.startswith),
    "ends_with": _text(str.endswith),
    "matches": _text(lambda text, pattern: pattern.search(text) is not None),
    "gt": _order(lambda a, e: a > e),
    "gte": _order(lambda a, e: a >= e),
    "lt": _order(lambda a, e: a < e),
    "lte": _order(lambda a, e: a <= e),
    "older_than": _age(longer=True),
    "newer_than": _age(longer=False),
}
