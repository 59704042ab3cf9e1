"""Compiling a rule condition as read from YAML into a `sla_core.rules.Condition`, checking
every field, operator and value against the rule language (documented in `sla_core.rules`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sla_core.durations import duration_seconds
from sla_core.policy_yaml import NodePath
from sla_core.rules import (
    _AGE,
    _KIND_OPERATORS,
    _ORDER,
    _TEXT,
    CUSTOM_FIELD_PREFIX,
    FIELDS,
    OPERATORS,
    AllOf,
    AnyOf,
    Condition,
    FieldKind,
    FieldTest,
    Not,
    RuleError,
    field_kind,
)

_COMBINATORS = ("all", "any", "not")
_TEST_KEYS = ("field", "op", "value")
_SCALAR = (str, int, float, bool)


def compile_condition(node: object, path: NodePath = ()) -> Condition:
    """Compile a condition tree as read from YAML into a `Condition`.

    Raises RuleError listing every problem in the tree, each with its node path under `path`:
    an unknown field or operator, a value of the wrong type for the operator and field, a bad
    regular expression or duration, a malformed combinator.
    """
    problems: list[tuple[NodePath, str]] = []
    condition = _compile(node, path, problems)
    if problems or condition is None:
        raise RuleError(problems)
    return condition


def _compile(
    node: object, path: NodePath, problems: list[tuple[NodePath, str]]
) -> Condition | None:
    if not isinstance(node, Mapping):
        problems.append((path, "a condition is a mapping: {field, op, value}, or all/any/not"))
        return None
    combinators = [key for key in _COMBINATORS if key in node]
    for key in node:
        if combinators and key != combinators[0]:
            hint = f"a condition with {combinators[0]!r} has no other key"
        elif not combinators and key not in _TEST_KEYS:
            hint = "a test has the keys field, op and value; combinators are all, any, not"
        else:
            continue
        problems.append(((*path, str(key)), f"unexpected key {key!r}: {hint}"))
    if not combinators:
        return _compile_test(node, path, problems)
    key = combinators[0]
    inner = node[key]
    if key == "not":
        condition = _compile(inner, (*path, key), problems)
        return None if condition is None else Not(condition)
    if not isinstance(inner, list) or not inner:
        problems.append(((*path, key), f"'{key}' takes a non-empty list of conditions"))
        return None
    members = [_compile(item, (*path, key, i), problems) for i, item in enumerate(inner)]
    if any(member is None for member in members):
        return None
    conditions = tuple(m for m in members if m is not None)
    return AllOf(conditions) if key == "all" else AnyOf(conditions)


def _compile_test(
    node: Mapping[Any, Any], path: NodePath, problems: list[tuple[NodePath, str]]
) -> Condition | None:
    before = len(problems)
    name, op = node.get("field"), node.get("op")
    kind = field_kind(name) if isinstance(name, str) else None
    if "field" not in node:
        problems.append((path, "missing 'field'"))
    elif kind is None:
        problems.append(((*path, "field"), f"unknown field {name!r}; {_known_fields()}"))
    if "op" not in node:
        problems.append((path, "missing 'op'"))
    elif op not in OPERATORS:
        known = ", ".join(OPERATORS)
        problems.append(((*path, "op"), f"unknown operator {op!r}; operators: {known}"))
    elif kind is not None and op not in _KIND_OPERATORS[kind]:
        usable = ", ".join(o for o in OPERATORS if o in _KIND_OPERATORS[kind])
        message = f"{op!r} does not apply to the {kind.value} field {name!r} (use {usable})"
        problems.append(((*path, "op"), message))
    if len(problems) > before or kind is None or not isinstance(name, str):
        return None
    assert isinstance(op, str)  # checked against OPERATORS above
    if "value" not in node and op not in ("exists", "changed"):
        problems.append((path, f"missing 'value' for {op!r}"))
        return None
    try:
        value = _compile_value(kind, op, node.get("value", True))
    except ValueError as exc:
        problems.append(((*path, "value"), str(exc)))
        return None
    return FieldTest(field=name, op=op, value=value, kind=kind)


def _known_fields() -> str:
    return f"fields: {', '.join(FIELDS)}, {CUSTOM_FIELD_PREFIX}<name>"


def _compile_value(kind: FieldKind, op: str, value: Any) -> Any:
    """The value an operator works with, checked against the field kind; ValueError if wrong."""
    if value is None:
        raise ValueError(f"{op!r} needs a value, not null (to test for a missing value: exists)")
    if op in ("exists", "changed"):
        return _expect(value, isinstance(value, bool), "true or false")
    if op in _AGE:
        seconds = duration_seconds(value)
        if seconds <= 0:
            raise ValueError(f"{op!r} needs a duration longer than 0, not {value!r}")
        return seconds
    if op == "matches":
        _expect(value, isinstance(value, str), "a regular expression (string)")
        try:
            return re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
    if op in ("in", "not_in"):
        _expect(value, isinstance(value, list) and bool(value), "a non-empty list")
        return tuple(_compile_item(kind, op, item) for item in value)
    as_set = kind is FieldKind.LIST or (kind is FieldKind.ANY and isinstance(value, list))
    if op in ("eq", "ne") and as_set:
        _expect(value, isinstance(value, list), "a list (compared as a set)")
        return tuple(_compile_item(kind, op, item) for item in value)
    return _compile_item(kind, op, value)


def _compile_item(kind: FieldKind, op: str, value: Any) -> Any:
    if kind is FieldKind.TIMESTAMP:
        return _expect_datetime(value)
    if kind is FieldKind.BOOL:
        return _expect(value, isinstance(value, bool), "true or false")
    if kind is FieldKind.ANY:
        if op in _TEXT:
            return _expect(value, isinstance(value, str), "a string")
        if op in _ORDER:
            ok = isinstance(value, str | int | float) and not isinstance(value, bool)
            return _expect(value, ok, "a number or a string")
        return _expect(value, isinstance(value, _SCALAR), "a string, number or boolean")
    return _expect(value, isinstance(value, str), "a string")


def _expect(value: Any, ok: bool, what: str) -> Any:
    if not ok:
        raise ValueError(f"expected {what}, got {value!r}")
    return value


def _expect_datetime(value: Any) -> datetime:
    what = "an ISO 8601 datetime with a UTC offset, like 2026-01-31T09:00:00+01:00"
    if not isinstance(value, str):
        raise ValueError(f"expected {what}, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected {what}, got {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset; expected {what}")
    return parsed
