"""Rule conditions: every operator on every kind of field, missing values, combinators, and the
problems compile_condition reports."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from sla_core.policy_schema import policy_schema
from sla_core.rule_compile import compile_condition
from sla_core.rules import (
    CHANGED,
    FIELDS,
    OPERATORS,
    AllOf,
    FieldKind,
    Not,
    Rule,
    RuleError,
    field_kind,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

FACTS: dict[str, Any] = {
    "source": "email",
    "status": "open",
    "priority": "high",
    "department": "support",
    "agent": None,
    "agent_status": "online",
    "requester": "kari@example.no",
    "customer_group": "VIP",
    "tags": ["vip", "invoice"],
    "custom_fields": {
        "amount": 1500,
        "plan": "enterprise",
        "flag": True,
        "order_id": "A-17",
        "langs": ["no", "en"],
        "renewal": "2026-03-01T00:00:00+00:00",
        "nothing": None,
    },
    "referrer_url": "https://example.com/pricing?x=1",
    "created_from_invitation": True,
    "last_message_by": "customer",
    "team": "tier-2",
    "customer_timezone": "America/Sao_Paulo",
    "created_at": NOW - timedelta(hours=3),
    "changed_at": NOW - timedelta(minutes=10),
    "deleted": False,
    CHANGED: frozenset({"team", "custom_fields.plan"}),  # what the event being applied changed
}


def leaf(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"field": field, "op": op, **extra}
    if value is not None:
        node["value"] = value
    return node


def holds(node: Mapping[str, Any], facts: Mapping[str, Any] = FACTS, now: datetime = NOW) -> bool:
    return compile_condition(node).evaluate(facts, now)


# (field, op, value, expected) on FACTS at NOW: one case per operator and per kind of field.
CASES: list[tuple[str, str, Any, bool]] = [
    # strings
    ("status", "eq", "open", True),
    ("status", "eq", "Open", False),  # case-sensitive
    ("status", "ne", "closed", True),
    ("status", "ne", "open", False),
    ("priority", "in", ["high", "urgent"], True),
    ("priority", "in", ["low"], False),
    ("priority", "not_in", ["low", "normal"], True),
    ("priority", "not_in", ["high"], False),
    ("requester", "contains", "@example", True),
    ("requester", "contains", "@other", False),
    ("requester", "not_contains", "@other", True),
    ("requester", "not_contains", "kari", False),
    ("referrer_url", "starts_with", "https://example.com/", True),
    ("referrer_url", "starts_with", "http://", False),
    ("referrer_url", "ends_with", "x=1", True),
    ("referrer_url", "ends_with", ".org", False),
    ("referrer_url", "matches", r"/pricing\b", True),  # search, not full match
    ("referrer_url", "matches", r"^http:", False),
    ("requester", "gt", "a", True),
    ("requester", "gt", "z", False),
    ("requester", "gte", "kari@example.no", True),
    ("requester", "lt", "kari@example.no", False),
    ("requester", "lte", "kari@example.no", True),
    ("status", "exists", True, True),
    ("status", "exists", False, False),
    ("last_message_by", "eq", "customer", True),
    ("team", "eq", "tier-2", True),
    ("customer_timezone", "starts_with", "America/", True),
    ("source", "in", ["email", "web"], True),
    ("agent_status", "ne", "offline", True),
    ("department", "eq", "support", True),
    ("customer_group", "eq", "VIP", True),
    ("agent", "exists", False, True),  # null: missing
    # lists
    ("tags", "contains", "vip", True),
    ("tags", "contains", "VIP", False),
    ("tags", "contains", "vi", False),  # membership, not substring
    ("tags", "not_contains", "spam", True),
    ("tags", "not_contains", "vip", False),
    ("tags", "in", ["vip", "x"], True),  # any item
    ("tags", "in", ["x", "y"], False),
    ("tags", "not_in", ["x"], True),
    ("tags", "not_in", ["invoice"], False),
    ("tags", "eq", ["invoice", "vip"], True),  # as sets
    ("tags", "eq", ["vip", "invoice", "vip"], True),
    ("tags", "eq", ["vip"], False),
    ("tags", "ne", ["vip"], True),
    ("tags", "starts_with", "inv", True),  # any item
    ("tags", "ends_with", "zzz", False),
    ("tags", "matches", "^v", True),
    ("tags", "exists", True, True),
    # the custom_fields object
    ("custom_fields", "contains", "amount", True),
    ("custom_fields", "contains", "nope", False),
    ("custom_fields", "not_contains", "nope", True),
    ("custom_fields", "exists", True, True),
    # custom fields: numbers
    ("custom_fields.amount", "eq", 1500, True),
    ("custom_fields.amount", "eq", 1500.0, True),
    ("custom_fields.amount", "eq", "1500", False),  # no coercion
    ("custom_fields.amount", "ne", 10, True),
    ("custom_fields.amount", "gt", 1000, True),
    ("custom_fields.amount", "gt", 1500, False),
    ("custom_fields.amount", "gte", 1500, True),
    ("custom_fields.amount", "lt", 1500, False),
    ("custom_fields.amount", "lte", 1500.5, True),
    ("custom_fields.amount", "gt", "1000", False),  # a number never orders with a string
    ("custom_fields.amount", "in", [1500, 2000], True),
    ("custom_fields.amount", "not_in", [1, 2], True),
    # custom fields: strings
    ("custom_fields.plan", "eq", "enterprise", True),
    ("custom_fields.plan", "starts_with", "enter", True),
    ("custom_fields.plan", "matches", "^ent.*se$", True),
    ("custom_fields.plan", "lt", "f", True),
    ("custom_fields.plan", "contains", "prise", True),
    ("custom_fields.order_id", "ends_with", "-17", True),
    ("custom_fields.amount", "starts_with", "15", False),  # not a string
    # custom fields: booleans
    ("custom_fields.flag", "eq", True, True),
    ("custom_fields.flag", "eq", 1, False),  # true is not 1
    ("custom_fields.flag", "ne", False, True),
    # custom fields: lists
    ("custom_fields.langs", "contains", "no", True),
    ("custom_fields.langs", "eq", ["en", "no"], True),
    ("custom_fields.langs", "in", ["en"], True),
    ("custom_fields.langs", "eq", "no", False),
    # custom fields: ISO timestamps
    ("custom_fields.renewal", "older_than", "1h", True),
    ("custom_fields.renewal", "newer_than", "1h", False),
    ("custom_fields.plan", "older_than", "1h", False),  # not a timestamp
    # booleans
    ("created_from_invitation", "eq", True, True),
    ("created_from_invitation", "eq", False, False),
    ("created_from_invitation", "ne", False, True),
    ("deleted", "eq", False, True),
    ("deleted", "exists", True, True),
    # timestamps (created 3 hours before NOW, changed 10 minutes before)
    ("created_at", "older_than", "2h", True),
    ("created_at", "older_than", "3h", False),  # strictly older
    ("created_at", "older_than", 14_400, False),
    ("created_at", "newer_than", "4h", True),
    ("created_at", "newer_than", "3h", False),  # strictly newer
    ("created_at", "newer_than", "2h", False),
    ("changed_at", "newer_than", "15m", True),
    ("changed_at", "older_than", "5m", True),
    ("created_at", "gt", "2026-03-02T08:00:00+00:00", True),
    ("created_at", "gt", "2026-03-02T09:00:00Z", False),
    ("created_at", "gte", "2026-03-02T09:00:00Z", True),
    ("created_at", "lt", "2026-03-02T10:00:00+00:00", True),
    ("created_at", "lte", "2026-03-02T08:59:59+00:00", False),
    ("created_at", "eq", "2026-03-02T10:00:00+01:00", True),  # the same instant, other offset
    ("created_at", "ne", "2026-03-02T10:00:00+01:00", False),
    ("created_at", "exists", True, True),
    # changed: what the event being applied changed
    ("team", "changed", True, True),
    ("status", "changed", True, False),
    ("status", "changed", False, True),
    ("custom_fields.plan", "changed", True, True),
    ("custom_fields", "changed", True, False),
    ("deleted", "changed", True, False),
    ("changed_at", "changed", False, True),
    ("tags", "changed", True, False),
]


@pytest.mark.parametrize(("field", "op", "value", "expected"), CASES)
def test_operator(field: str, op: str, value: Any, expected: bool) -> None:
    assert holds(leaf(field, op, value)) is expected


def test_the_json_schema_accepts_every_valid_condition() -> None:
    """Editors check policies with the schema: it must not refuse what the engine accepts."""
    validator = jsonschema.Draft202012Validator(policy_schema())
    nodes = [leaf(field, op, value) for field, op, value, _ in CASES]
    nodes += [leaf(field, op, value) for op, value, _ in MISSING_CASES for field in MISSING]
    nodes += [node for node, _ in COMBINED] + [leaf("agent", "exists")]
    for node in nodes:
        compile_condition(node)
        policy: dict[str, Any] = {
            "levels": {"a": {"targets": {"resolution": "1h"}}},
            "rules": [{"name": "r", "when": node, "then": {"set_level": "a"}}],
        }
        assert not list(validator.iter_errors(policy)), node


def test_every_operator_and_every_field_kind_has_a_case() -> None:
    assert {op for _, op, _, _ in CASES} == set(OPERATORS)
    kinds = {field_kind(field) for field, _, _, _ in CASES}
    assert kinds == set(FieldKind)
    assert {field for field, _, _, _ in CASES} >= set(FIELDS)


# Missing values: an absent field, a null field, an absent custom field, a null custom field.
MISSING = ["department", "agent", "custom_fields.absent", "custom_fields.nothing"]
MISSING_CASES: list[tuple[str, Any, bool]] = [
    ("eq", "x", False),
    ("ne", "x", True),
    ("in", ["x"], False),
    ("not_in", ["x"], True),
    ("contains", "x", False),
    ("not_contains", "x", True),
    ("starts_with", "x", False),
    ("ends_with", "x", False),
    ("matches", ".*", False),
    ("exists", True, False),
    ("exists", False, True),
    ("changed", True, False),
    ("gt", "a", False),
    ("gte", "a", False),
    ("lt", "z", False),
    ("lte", "z", False),
]


@pytest.mark.parametrize("field", MISSING)
@pytest.mark.parametrize(("op", "value", "expected"), MISSING_CASES)
def test_missing_value(field: str, op: str, value: Any, expected: bool) -> None:
    facts = {k: v for k, v in FACTS.items() if k != "department"}
    assert holds(leaf(field, op, value), facts) is expected


@pytest.mark.parametrize("field", ["created_at", "changed_at"])
@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("older_than", "1s", False),
        ("newer_than", "100h", False),
        ("gt", "2000-01-01T00:00:00Z", False),
        ("eq", "2000-01-01T00:00:00Z", False),
        ("ne", "2000-01-01T00:00:00Z", True),
        ("exists", False, True),
    ],
)
def test_missing_timestamp(field: str, op: str, value: Any, expected: bool) -> None:
    for facts in ({}, {field: None}):
        assert holds(leaf(field, op, value), facts) is expected


@pytest.mark.parametrize(
    ("facts", "node", "expected"),
    [
        ({"tags": []}, leaf("tags", "exists", True), True),  # empty exists
        ({"status": ""}, leaf("status", "exists"), True),  # value defaults to true
        ({"custom_fields": "not a mapping"}, leaf("custom_fields.x", "exists", True), False),
        (
            {"created_at": "2026-03-02T11:00:00+00:00"},
            leaf("created_at", "older_than", "30m"),
            True,
        ),
        (
            {"created_at": datetime(2026, 3, 2, 11, 0)},
            leaf("created_at", "older_than", "30m"),
            True,
        ),
        ({"created_at": "not a time"}, leaf("created_at", "older_than", "30m"), False),
        ({"created_at": "not a time"}, leaf("created_at", "ne", "2026-01-01T00:00:00Z"), True),
        ({"created_at": 12345}, leaf("created_at", "gt", "2026-01-01T00:00:00Z"), False),
        ({"tags": "vip"}, leaf("tags", "contains", "vip"), True),  # a string: substring
        ({"tags": "vip"}, leaf("tags", "eq", ["vip"]), False),
        ({"priority": 3}, leaf("priority", "starts_with", "3"), False),
        ({"priority": True}, leaf("priority", "gt", "a"), False),
        ({"custom_fields": {"n": True}}, leaf("custom_fields.n", "gt", 0), False),  # bool no number
        (
            {"custom_fields": {"d": "2026-03-02T11:00:00"}},
            leaf("custom_fields.d", "newer_than", "2h"),
            True,
        ),
    ],
)
def test_odd_facts_never_raise(facts: dict[str, Any], node: dict[str, Any], expected: bool) -> None:
    assert holds(node, facts) is expected


def test_a_naive_now_makes_age_tests_false_instead_of_raising() -> None:
    naive_now = datetime(2026, 3, 2, 12, 0)
    assert holds(leaf("created_at", "older_than", "1h"), FACTS, naive_now) is False
    assert holds(leaf("created_at", "newer_than", "1h"), FACTS, naive_now) is False


def test_age_is_measured_from_the_event_time_passed_in() -> None:
    node = leaf("created_at", "older_than", "2h")
    facts = {"created_at": datetime(2026, 1, 1, 0, 0, tzinfo=UTC)}
    assert holds(node, facts, datetime(2026, 1, 1, 1, 0, tzinfo=UTC)) is False
    assert holds(node, facts, datetime(2026, 1, 1, 3, 0, tzinfo=UTC)) is True


TRUE = leaf("status", "eq", "open")
FALSE = leaf("status", "eq", "closed")


COMBINED: list[tuple[dict[str, Any], bool]] = [
    ({"all": [TRUE, TRUE]}, True),
    ({"all": [TRUE, FALSE]}, False),
    ({"all": [TRUE]}, True),
    ({"any": [FALSE, TRUE]}, True),
    ({"any": [FALSE, FALSE]}, False),
    ({"not": TRUE}, False),
    ({"not": FALSE}, True),
    ({"not": {"not": TRUE}}, True),
    ({"all": [{"any": [FALSE, TRUE]}, {"not": FALSE}]}, True),
    ({"all": [{"any": [FALSE, FALSE]}, {"not": FALSE}]}, False),
    ({"any": [{"all": [TRUE, FALSE]}, {"all": [TRUE, {"not": {"any": [FALSE]}}]}]}, True),
    (
        {
            "all": [
                leaf("customer_group", "eq", "VIP"),
                leaf("priority", "in", ["high", "urgent"]),
                {"not": leaf("tags", "contains", "spam")},
                {"any": [leaf("agent", "exists", False), leaf("agent_status", "eq", "away")]},
            ]
        },
        True,
    ),
]


@pytest.mark.parametrize(("node", "expected"), COMBINED)
def test_combinators(node: dict[str, Any], expected: bool) -> None:
    assert holds(node) is expected


def test_compiled_conditions_are_inspectable() -> None:
    condition = compile_condition({"all": [TRUE, {"not": leaf("tags", "contains", "spam")}]})
    assert isinstance(condition, AllOf)
    assert isinstance(condition.conditions[1], Not)
    assert str(condition) == "(status eq 'open' and not tags contains 'spam')"
    assert str(compile_condition(leaf("created_at", "older_than", 5400))) == (
        "created_at older_than 1h30m"
    )


@pytest.mark.parametrize(("stop", "set_level"), [(True, "gold"), (False, None)])
def test_rule_matches(stop: bool, set_level: str | None) -> None:
    rule = Rule("vip", compile_condition(leaf("customer_group", "eq", "VIP")), set_level, stop)
    assert rule.matches(FACTS, NOW)
    assert not rule.matches({"customer_group": "regular"}, NOW)


# (node, [(relative path, fragment of the message), ...]): every problem, with its path.
BAD: list[tuple[object, list[tuple[tuple[str | int, ...], str]]]] = [
    (leaf("subject", "eq", "x"), [(("field",), "unknown field 'subject'")]),
    (leaf("custom_fields.", "eq", 1), [(("field",), "unknown field 'custom_fields.'")]),
    ({"field": 3, "op": "eq", "value": 1}, [(("field",), "unknown field 3")]),
    (leaf("status", "equals", "x"), [(("op",), "unknown operator 'equals'")]),
    (leaf("status", "older_than", "1h"), [(("op",), "does not apply to the string field")]),
    (leaf("created_at", "contains", "x"), [(("op",), "does not apply to the timestamp field")]),
    (leaf("tags", "gt", "a"), [(("op",), "does not apply to the list field")]),
    (leaf("deleted", "in", [True]), [(("op",), "does not apply to the bool field")]),
    (leaf("custom_fields", "eq", "x"), [(("op",), "does not apply to the object field")]),
    (leaf("status", "in", "open"), [(("value",), "expected a non-empty list, got 'open'")]),
    (leaf("status", "not_in", []), [(("value",), "expected a non-empty list")]),
    (leaf("status", "in", ["a", 1]), [(("value",), "expected a string, got 1")]),
    (leaf("status", "matches", "(["), [(("value",), "'([' is not a valid regular expression")]),
    (leaf("status", "matches", 5), [(("value",), "expected a regular expression")]),
    (leaf("status", "starts_with", 5), [(("value",), "expected a string, got 5")]),
    (leaf("status", "eq", ["a"]), [(("value",), "expected a string, got ['a']")]),
    (leaf("status", "gt", 3), [(("value",), "expected a string, got 3")]),
    (leaf("status", "exists", "yes"), [(("value",), "expected true or false, got 'yes'")]),
    (leaf("status", "eq", None) | {"value": None}, [(("value",), "needs a value, not null")]),
    (leaf("created_at", "older_than", "2 days"), [(("value",), "'2 days' is not a duration")]),
    (leaf("created_at", "newer_than", True), [(("value",), "True is not a duration")]),
    (leaf("created_at", "older_than", "0s"), [(("value",), "longer than 0")]),
    (leaf("created_at", "gt", "yesterday"), [(("value",), "expected an ISO 8601 datetime")]),
    (leaf("created_at", "gt", "2026-01-01T00:00:00"), [(("value",), "has no UTC offset")]),
    (leaf("created_at", "lt", 1700000000), [(("value",), "expected an ISO 8601 datetime")]),
    (leaf("deleted", "eq", "yes"), [(("value",), "expected true or false, got 'yes'")]),
    (leaf("tags", "eq", "vip"), [(("value",), "expected a list (compared as a set)")]),
    (leaf("custom_fields.x", "gt", True), [(("value",), "expected a number or a string")]),
    (leaf("custom_fields.x", "eq", {"a": 1}), [(("value",), "expected a string, number or")]),
    (leaf("custom_fields", "contains", 1), [(("value",), "expected a string, got 1")]),
    ({"field": "status", "op": "eq"}, [((), "missing 'value' for 'eq'")]),
    ({"op": "eq", "value": 1}, [((), "missing 'field'")]),
    ({"field": "status", "value": 1}, [((), "missing 'op'")]),
    (leaf("status", "eq", "x", extra=1), [(("extra",), "unexpected key 'extra'")]),
    ("status eq open", [((), "a condition is a mapping")]),
    ({}, [((), "missing 'field'"), ((), "missing 'op'")]),
    ({"all": []}, [(("all",), "'all' takes a non-empty list")]),
    ({"any": {"field": "status"}}, [(("any",), "'any' takes a non-empty list")]),
    ({"not": "x"}, [(("not",), "a condition is a mapping")]),
    ({"all": [TRUE], "any": [TRUE]}, [(("any",), "unexpected key 'any'")]),
    ({"not": TRUE, "field": "status"}, [(("field",), "unexpected key 'field'")]),
    (
        {"all": [leaf("subject", "eq", 1), {"any": [TRUE, leaf("status", "matches", "(")]}]},
        [
            (("all", 0, "field"), "unknown field 'subject'"),
            (("all", 1, "any", 1, "value"), "not a valid regular expression"),
        ],
    ),
    (
        {"not": {"all": [leaf("tags", "lt", "x"), leaf("priority", "in", 1), {"any": []}]}},
        [
            (("not", "all", 0, "op"), "does not apply"),
            (("not", "all", 1, "value"), "non-empty list"),
            (("not", "all", 2, "any"), "non-empty list"),
        ],
    ),
]


@pytest.mark.parametrize(("node", "expected"), BAD)
def test_compile_reports_every_problem_with_its_path(
    node: object, expected: list[tuple[tuple[str | int, ...], str]]
) -> None:
    prefix = ("rules", 3, "when")
    with pytest.raises(RuleError) as info:
        compile_condition(node, prefix)
    problems = info.value.problems
    assert [path for path, _ in problems] == [(*prefix, *path) for path, _ in expected]
    for (_, message), (_, fragment) in zip(problems, expected, strict=True):
        assert fragment in message


def test_rule_error_message_names_the_paths() -> None:
    with pytest.raises(RuleError) as info:
        compile_condition({"all": [leaf("subject", "eq", 1)]}, ("rules", 0, "when"))
    assert str(info.value).startswith("rules[0].when.all[0].field: unknown field 'subject'")


def test_exists_defaults_to_true() -> None:
    assert compile_condition(leaf("agent", "exists")).evaluate({"agent": "a1"}, NOW)
