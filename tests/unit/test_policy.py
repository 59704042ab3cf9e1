"""The policy file: loading, validation with paths and lines, the version hash, choosing levels."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from sla_core.calendar import ALWAYS_OPEN
from sla_core.durations import DURATION_PATTERN
from sla_core.events import METRICS
from sla_core.levels import WarningThreshold
from sla_core.policy import Policy, PolicyError, Problem, load_policy, parse_policy
from sla_core.policy_schema import policy_schema
from sla_core.policy_summary import summarize
from sla_core.rules import FIELDS, OPERATORS
from sla_engine.check_policy import check_policy

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "deploy").glob("policy.*.yaml"))
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

SPEC_EXAMPLE = """\
calendars:
  oslo-office:
    timezone: Europe/Oslo
    hours: {mon-fri: ["09:00-17:00"], sat: ["10:00-14:00"]}   # "22:00-06:00" spans midnight
    holidays: {country: "NO", dates: ["2026-12-24"]}          # from the holidays package
levels:
  standard:
    calendar: oslo-office              # omitted: 24/7
    targets: {first_answer: 8h, next_answer: 8h, chat_answer: 2m, call_answer: 30s, resolution: 40h}
    warnings: ["75%", "30m"]           # a share of the target elapsed, or time left before due
    pause_when_status: [pending]
  gold:
    calendar: oslo-office
    targets: {first_answer: 1h, next_answer: 2h}
default_level: standard                # null: tickets no rule matches get no SLA
rules:                                 # run in order on created, updated and reopened
  - name: VIP customers
    when: {all: [{field: customer_group, op: eq, value: VIP},
                 {field: priority, op: in, value: [high, urgent]}]}
    then: {set_level: gold, stop: true}   # stop: the rules after it are not run
"""


# --- the examples and the schema --------------------------------------------------------


def test_the_three_examples_exist() -> None:
    assert [p.name for p in EXAMPLES] == [
        "policy.demo.yaml",
        "policy.example.yaml",
        "policy.minimal.yaml",
    ]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_load(path: Path) -> None:
    policy = load_policy(path)
    assert policy.source == str(path)
    assert policy.version.startswith("sha256:")
    assert policy.levels
    assert policy.default_level in policy.levels


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_schema_validates_examples(path: Path) -> None:
    jsonschema.Draft202012Validator(policy_schema()).validate(yaml.safe_load(path.read_text()))


def test_schema_is_valid_2020_12_and_shipped_with_the_package() -> None:
    on_disk = json.loads((REPO / "schemas" / "policy.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(on_disk)
    assert on_disk["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert policy_schema() == on_disk


def test_schema_says_the_same_as_the_code() -> None:
    defs = policy_schema()["$defs"]
    assert defs["duration"]["pattern"] == DURATION_PATTERN
    assert list(defs["level"]["properties"]["targets"]["properties"]) == list(METRICS)
    assert defs["fieldTest"]["properties"]["op"]["enum"] == list(OPERATORS)
    assert defs["fieldTest"]["properties"]["field"]["anyOf"][0]["enum"] == sorted(
        FIELDS, key=list(FIELDS).index
    )


def test_schema_describes_its_properties_for_editors() -> None:
    schema = policy_schema()
    assert schema["description"]
    for name in ("calendars", "levels", "default_level", "rules"):
        assert schema["properties"][name]["description"]
    for name in ("duration", "calendar", "level", "warning", "rule", "condition", "fieldTest"):
        assert schema["$defs"][name]["description"]


def test_demo_targets_are_short() -> None:
    policy = load_policy(REPO / "deploy" / "policy.demo.yaml")
    standard = policy.levels["standard"]
    assert dict(standard.targets) == {
        "first_answer": 45,
        "next_answer": 40,
        "chat_answer": 15,
        "call_answer": 10,
        "resolution": 180,
    }
    assert [w.label for w in standard.warnings] == ["50%"]
    assert all(level.calendar is ALWAYS_OPEN for level in policy.levels.values())
    departments = {"support", "sales", "billing"}
    assert {policy.choose_level({"department": d}, NOW) for d in departments} == {
        "standard",
        "sales",
        "billing",
    }


def test_example_policy_is_a_realistic_helpdesk() -> None:
    policy = load_policy(REPO / "deploy" / "policy.example.yaml")
    office = policy.calendars["oslo-office"]
    assert office.timezone == "Europe/Oslo"
    christmas_eve = datetime(2026, 12, 24, 10, 0, tzinfo=UTC)
    whit_monday = datetime(2026, 5, 25, 10, 0, tzinfo=UTC)
    assert not office.is_open(christmas_eve)
    assert not office.is_open(whit_monday)
    assert office.is_open(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    assert policy.levels["urgent"].calendar is ALWAYS_OPEN
    # a half day, an extra Saturday (SPEC 8): 2026-12-23 closes at 12:00, 2026-11-28 opens 10-14
    assert office.is_open(datetime(2026, 12, 23, 10, 0, tzinfo=UTC))  # 11:00 Oslo
    assert not office.is_open(datetime(2026, 12, 23, 11, 30, tzinfo=UTC))  # 12:30 Oslo
    assert office.is_open(datetime(2026, 11, 28, 11, 0, tzinfo=UTC))  # Saturday 12:00 Oslo
    local = policy.levels["international"].calendar
    choice = local.resolve({"customer_timezone": "America/Sao_Paulo"})
    assert (choice.zone, choice.source) == ("America/Sao_Paulo", "ticket")
    assert local.resolve({"customer_timezone": "Asia/Kathmandoo"}).zone == "Europe/Oslo"
    assert policy.choose_level({"department": "international"}, NOW) == "international"
    assert policy.levels["standard"].targets["chat_answer"] == 120
    assert policy.levels["standard"].targets["call_answer"] == 30
    assert policy.levels["standard"].pause_when_status == {"pending", "on_hold"}
    choose = policy.choose_level
    assert choose({"department": "support", "priority": "normal"}, NOW) == "standard"
    assert choose({"department": "sales"}, NOW) == "sales"
    assert choose({"department": "billing"}, NOW) == "billing"
    assert choose({"department": "billing", "customer_group": "VIP"}, NOW) == "vip"
    assert choose({"department": "billing", "priority": "urgent"}, NOW) == "urgent"
    assert choose({"department": "support", "priority": "high"}, NOW) == "vip"
    old = {"priority": "high", "created_at": datetime(2026, 2, 20, tzinfo=UTC)}
    assert choose(old, NOW) == "urgent"
    # conditions (SPEC 8): the standard level has them all, each close choice is somewhere
    conditions = policy.levels["standard"].conditions
    assert conditions.pause is not None and conditions.pause.evaluate(
        {"tags": ["waiting-for-vendor"]}, NOW
    )
    assert conditions.reset is not None and conditions.cancel is not None
    assert conditions.periodic_mode == "between_agent_updates"
    assert policy.levels["vip"].conditions.periodic_mode == "after_customer_reply"
    closes = {level.conditions.close_before_answer for level in policy.levels.values()}
    assert closes == {"fulfil", "cancel", "miss"}
    untouched = {"status": "open", "changed_at": NOW - timedelta(hours=25)}
    assert choose(untouched, NOW) == "vip"  # a ticket nobody touched for a day
    assert choose({**untouched, "changed_at": NOW - timedelta(hours=23)}, NOW) == "standard"


def test_minimal_policy() -> None:
    policy = load_policy(REPO / "deploy" / "policy.minimal.yaml")
    assert list(policy.levels) == ["standard"]
    assert policy.levels["standard"].calendar is ALWAYS_OPEN
    assert policy.rules == ()
    assert policy.choose_level({}, NOW) == "standard"


# --- the model ---------------------------------------------------------------------------


def test_spec_example() -> None:
    policy = parse_policy(SPEC_EXAMPLE, source="spec.yaml")
    standard, gold = policy.levels["standard"], policy.levels["gold"]
    assert standard.calendar is policy.calendars["oslo-office"]
    assert dict(standard.targets) == {
        "first_answer": 28_800,
        "next_answer": 28_800,
        "chat_answer": 120,
        "call_answer": 30,
        "resolution": 144_000,
    }
    assert standard.warnings == (
        WarningThreshold("75%", share=0.75),
        WarningThreshold("30m", before_seconds=1800),
    )
    assert standard.pause_when_status == frozenset({"pending"})
    assert dict(gold.targets) == {"first_answer": 3600, "next_answer": 7200}
    assert gold.warnings == () and gold.pause_when_status == frozenset()
    assert policy.default_level == "standard"
    [rule] = policy.rules
    assert (rule.name, rule.set_level, rule.stop) == ("VIP customers", "gold", True)
    assert policy.source == "spec.yaml"
    assert re.fullmatch(r"sha256:[0-9a-f]{16}", policy.version)


def test_policy_is_immutable_and_hashable() -> None:
    policy = parse_policy(SPEC_EXAMPLE)
    assert hash(policy) == hash(parse_policy(SPEC_EXAMPLE))
    assert policy == parse_policy(SPEC_EXAMPLE)
    with pytest.raises(TypeError):
        policy.levels["x"] = policy.levels["gold"]  # type: ignore[index]
    with pytest.raises(TypeError):
        policy.levels["gold"].targets["resolution"] = 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("written", "target", "elapsed"),
    [
        ("75%", 1000, 750),
        ("50%", 45, 22.5),
        ("30m", 3600, 1800),
        ("30m", 1801, 1),
        ("30m", 1800, None),  # would fire at the start
        ("30m", 600, None),  # before the start
        ("99.5%", 1000, 995),
        (600, 3600, 3000),
    ],
)
def test_warning_elapsed_at(written: object, target: float, elapsed: float | None) -> None:
    assert WarningThreshold.parse(written).elapsed_at(target) == elapsed


def test_warning_labels_as_written() -> None:
    assert WarningThreshold.parse("75%").label == "75%"
    assert WarningThreshold.parse("1h30m").label == "1h30m"
    assert WarningThreshold.parse(600).label == "10m"


@pytest.mark.parametrize("written", ["0%", "100%", "150%", "0s", 0, "soon", "-5m", True, None])
def test_warning_refused(written: object) -> None:
    with pytest.raises(ValueError):
        WarningThreshold.parse(written)


RULES = """\
levels:
  bronze: {targets: {first_answer: 8h}}
  silver: {targets: {first_answer: 4h}}
  gold: {targets: {first_answer: 1h}}
default_level: {default}
rules:
  - name: sales are silver
    when: {field: department, op: eq, value: sales}
    then: {set_level: silver}
  - name: VIPs are gold, and that is final
    when: {field: customer_group, op: eq, value: VIP}
    then: {set_level: gold, stop: true}
  - name: spam stops the run, setting nothing
    when: {field: tags, op: contains, value: spam}
    then: {stop: true}
  - name: urgent is gold
    when: {field: priority, op: eq, value: urgent}
    then: {set_level: gold}
  - name: low priority is bronze
    when: {field: priority, op: eq, value: low}
    then: {set_level: bronze}
  - name: a rule that only matches does nothing
    when: {field: department, op: exists}
    then: {stop: false}
"""


@pytest.mark.parametrize(
    ("default", "facts", "level"),
    [
        ("bronze", {}, "bronze"),  # no rule applies: the default
        ("null", {}, None),  # no default: no SLA
        ("null", {"department": "sales"}, "silver"),
        ("bronze", {"department": "sales", "priority": "urgent"}, "gold"),  # the last applied
        ("bronze", {"department": "sales", "priority": "low"}, "bronze"),  # wins, even bronze
        ("null", {"customer_group": "VIP", "priority": "low"}, "gold"),  # stop
        ("bronze", {"department": "sales", "tags": ["spam"], "priority": "urgent"}, "silver"),
        ("bronze", {"tags": ["spam"], "priority": "urgent"}, "bronze"),  # stopped before any
        ("null", {"tags": ["spam"], "priority": "urgent"}, None),
        ("null", {"department": "support"}, None),  # matched, but set nothing
    ],
)
def test_choose_level(default: str, facts: dict[str, Any], level: str | None) -> None:
    policy = parse_policy(RULES.replace("{default}", default))
    assert policy.choose_level(facts, NOW) == level


def test_default_level_may_be_omitted() -> None:
    policy = parse_policy("levels: {gold: {targets: {first_answer: 1h}}}")
    assert policy.default_level is None
    assert policy.choose_level({"priority": "urgent"}, NOW) is None


def test_choose_level_uses_the_event_time() -> None:
    policy = parse_policy(
        "levels: {a: {targets: {resolution: 1h}}, b: {targets: {resolution: 2h}}}\n"
        "default_level: a\n"
        "rules: [{name: old, when: {field: created_at, op: older_than, value: 1h},"
        " then: {set_level: b}}]\n"
    )
    facts = {"created_at": datetime(2026, 3, 2, 10, 0, tzinfo=UTC)}
    assert policy.choose_level(facts, datetime(2026, 3, 2, 10, 30, tzinfo=UTC)) == "a"
    assert policy.choose_level(facts, datetime(2026, 3, 2, 11, 30, tzinfo=UTC)) == "b"


def test_a_level_can_name_the_built_in_24_7_calendar() -> None:
    policy = parse_policy('levels: {a: {calendar: "24/7", targets: {resolution: 1h}}}')
    assert policy.levels["a"].calendar is ALWAYS_OPEN


def test_yaml_1_2_scalars() -> None:
    policy = parse_policy(
        "calendars:\n"
        "  c: {timezone: Europe/Oslo, holidays: {country: NO, dates: [2026-12-24]}}\n"
        "levels: {a: {calendar: c, targets: {resolution: 90}}}\n"
    )
    calendar = policy.calendars["c"]
    assert not calendar.is_open(datetime(2026, 5, 17, 12, 0, tzinfo=UTC))  # Norway's day
    assert not calendar.is_open(datetime(2026, 12, 24, 12, 0, tzinfo=UTC))
    assert policy.levels["a"].targets["resolution"] == 90


def test_summarize() -> None:
    text = summarize(parse_policy(SPEC_EXAMPLE, source="spec.yaml"))
    assert text.startswith("policy spec.yaml (sha256:")
    assert "oslo-office (Europe/Oslo)" in text
    assert "standard [oslo-office]: first_answer 8h, next_answer 8h, chat_answer 2m" in text
    assert "gold [oslo-office]: first_answer 1h, next_answer 2h" in text
    assert "warnings: 75%, 30m" in text
    assert "default level: standard" in text
    assert "rules (1):" in text
    assert "VIP customers: set gold, stop when (customer_group eq 'VIP'" in text


# --- the version -------------------------------------------------------------------------

REFORMATTED = """\
# the same content, written differently
rules:
- name: VIP customers
  then:
    stop: true
    set_level: gold
  when:
    all:
    - {op: eq, field: customer_group, value: VIP}
    - field: priority
      op: in
      value:
      - high
      - urgent
default_level: standard
levels:
  gold: {targets: {next_answer: 2h, first_answer: 1h}, calendar: oslo-office}
  standard:
    pause_when_status: [pending]
    warnings: ['75%', '30m']
    targets: {resolution: 40h, call_answer: 30s, chat_answer: 2m, next_answer: 8h, first_answer: 8h}
    calendar: oslo-office
calendars:
  oslo-office:
    holidays: {dates: ['2026-12-24'], country: 'NO'}
    hours:
      sat: ['10:00-14:00']
      mon-fri: ['09:00-17:00']
    timezone: "Europe/Oslo"
"""


def test_version_ignores_comments_layout_and_key_order() -> None:
    assert parse_policy(REFORMATTED).version == parse_policy(SPEC_EXAMPLE).version


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("first_answer: 1h,", "first_answer: 2h,"),
        ('"2026-12-24"', '"2026-12-25"'),
        ("value: VIP", "value: vip"),
        ("stop: true", "stop: false"),
        ("pause_when_status: [pending]", "pause_when_status: [pending, on_hold]"),
    ],
)
def test_version_changes_with_content(old: str, new: str) -> None:
    assert old in SPEC_EXAMPLE
    changed = parse_policy(SPEC_EXAMPLE.replace(old, new, 1))
    assert changed.version != parse_policy(SPEC_EXAMPLE).version


# --- validation: each problem with its path and line ---------------------------------------

BASE = """\
calendars:
  office:
    timezone: Europe/Oslo
    hours: {mon-fri: ["09:00-17:00"]}
levels:
  gold:
    calendar: office
    targets: {first_answer: 1h}
default_level: gold
rules:
  - name: vip
    when: {field: customer_group, op: eq, value: VIP}
    then: {set_level: gold}
"""


def test_base_is_valid() -> None:
    assert isinstance(parse_policy(BASE), Policy)


HOURS = '{mon-fri: ["09:00-17:00"]}'


def overrides(*entries: str) -> str:
    """BASE's hours followed by `overrides:` (line 5) and one entry per line from line 6."""
    return HOURS + "\n    overrides:" + "".join(f"\n      {entry}" for entry in entries)


# (replace this, with that, expected path, expected line, fragment of the message)
INVALID: list[tuple[str, str, str, int, str]] = [
    (
        "first_answer: 1h",
        "first_answer: 4 hours",
        "levels.gold.targets.first_answer",
        8,
        "'4 hours' is not a duration",
    ),
    (
        "first_answer: 1h",
        "first_answer: 0",
        "levels.gold.targets.first_answer",
        8,
        "a target must be longer than 0, not 0",
    ),
    (
        "first_answer: 1h",
        "first_answer: 0s",
        "levels.gold.targets.first_answer",
        8,
        "a target must be longer than 0, not '0s'",
    ),
    (
        "first_answer: 1h",
        "first_answer: -60",
        "levels.gold.targets.first_answer",
        8,
        "longer than 0",
    ),
    (
        "first_answer: 1h",
        "first_answer: -5m",
        "levels.gold.targets.first_answer",
        8,
        "'-5m' is not a duration",
    ),
    (
        "first_answer: 1h",
        "first_answer: [1h]",
        "levels.gold.targets.first_answer",
        8,
        "['1h'] is not a duration",
    ),
    (
        "first_answer: 1h",
        "first_answr: 1h",
        "levels.gold.targets.first_answr",
        8,
        "unknown key 'first_answr'; expected first_answer, next_answer",
    ),
    ("targets: {first_answer: 1h}", "targets: {}", "levels.gold.targets", 8, "must not be empty"),
    ("    targets: {first_answer: 1h}\n", "", "levels.gold", 6, "missing key 'targets'"),
    (
        "calendar: office",
        "calendar: offce",
        "levels.gold.calendar",
        7,
        "unknown calendar 'offce'; calendars: office",
    ),
    (
        "default_level: gold",
        "default_level: silver",
        "default_level",
        9,
        "unknown level 'silver'; levels: gold",
    ),
    (
        "default_level: gold",
        "defaults_level: gold",
        "defaults_level",
        9,
        "unknown key 'defaults_level'",
    ),
    (
        "default_level: gold",
        "default_level: 3",
        "default_level",
        9,
        "expected a string or null, got a number",
    ),
    (
        "set_level: gold",
        "set_level: platinum",
        "rules[0].then.set_level",
        13,
        "unknown level 'platinum'",
    ),
    (
        "set_level: gold",
        "set_level: gold, stop: yes",
        "rules[0].then.stop",
        13,
        "expected true or false, got a string ('yes' is not a boolean in YAML 1.2",
    ),
    ("then: {set_level: gold}", "then: {}", "rules[0].then", 13, "must not be empty"),
    ("    then: {set_level: gold}\n", "", "rules[0]", 11, "missing key 'then'"),
    ("name: vip", "nam: vip", "rules[0].nam", 11, "unknown key 'nam'"),
    (
        "field: customer_group",
        "field: customer_grp",
        "rules[0].when.field",
        12,
        "unknown field 'customer_grp'",
    ),
    ("op: eq", "op: equals", "rules[0].when.op", 12, "unknown operator 'equals'"),
    (
        "op: eq, value: VIP",
        "op: matches, value: '(['",
        "rules[0].when.value",
        12,
        "not a valid regular expression",
    ),
    (
        "op: eq, value: VIP",
        "op: in, value: VIP",
        "rules[0].when.value",
        12,
        "expected a non-empty list",
    ),
    (
        "field: customer_group, op: eq, value: VIP",
        "field: created_at, op: older_than, value: 2d",
        "rules[0].when.value",
        12,
        "'2d' is not a duration",
    ),
    (
        "field: customer_group, op: eq, value: VIP",
        "field: created_at, op: gt, value: yesterday",
        "rules[0].when.value",
        12,
        "expected an ISO 8601 datetime",
    ),
    (
        "timezone: Europe/Oslo",
        "timezone: Europe/Olso",
        "calendars.office.timezone",
        3,
        "'Europe/Olso'",
    ),
    ("    timezone: Europe/Oslo\n", "", "calendars.office", 2, "missing key 'timezone'"),
    (
        '"09:00-17:00"',
        '"09:00-25:00"',
        "calendars.office.hours.mon-fri[0]",
        4,
        "'09:00-25:00'",
    ),
    (
        '"09:00-17:00"',
        '"9-17"',
        "calendars.office.hours.mon-fri[0]",
        4,
        "'9-17' is not an interval like 09:00-17:00",
    ),
    ('"09:00-17:00"', '"09:00-09:00"', "calendars.office.hours.mon-fri[0]", 4, "'09:00-09:00'"),
    ("mon-fri:", "weekdays:", "calendars.office.hours.weekdays", 4, "'weekdays' is not a day"),
    (
        '{mon-fri: ["09:00-17:00"]}',
        "{mon-fri: []}",
        "calendars.office.hours.mon-fri",
        4,
        "must not be empty",
    ),
    (
        '{mon-fri: ["09:00-17:00"]}',
        '{mon-fri: ["09:00-17:00"]}\n    holidays: {country: XX}',
        "calendars.office.holidays.country",
        5,
        "'XX'",
    ),
    (
        '{mon-fri: ["09:00-17:00"]}',
        '{mon-fri: ["09:00-17:00"]}\n    holidays: {dates: [2026-13-01]}',
        "calendars.office.holidays.dates[0]",
        5,
        "'2026-13-01'",
    ),
    (
        '{mon-fri: ["09:00-17:00"]}',
        '{mon-fri: ["09:00-17:00"]}\n    holidays: {dates: [24.12.2026]}',
        "calendars.office.holidays.dates[0]",
        5,
        "'24.12.2026' is not a date",
    ),
    (
        '{mon-fri: ["09:00-17:00"]}',
        '{mon-fri: ["09:00-17:00"]}\n    holidays: {region: XX}',
        "calendars.office.holidays.region",
        5,
        "unknown key 'region'; expected country",
    ),
    # Overrides: line 5 is `overrides:`, line 6 its first key, line 7 the second.
    (
        HOURS,
        overrides('"2026-12-23": ["09:00-12:00", "11:00-13:00"]'),
        'calendars.office.overrides["2026-12-23"][0]',
        6,
        "override 2026-12-23: interval '09:00-12:00' overlaps '11:00-13:00'",
    ),
    (
        HOURS,
        overrides('"2026-12-23": ["22:00-10:00"]'),
        'calendars.office.overrides["2026-12-23"][0]',
        6,
        "interval '22:00-10:00' overlaps '09:00-17:00' on 2026-12-24 (thu, weekly hours)",
    ),
    (
        HOURS,
        overrides('"2026-12-23": ["22:00-10:00"]', '"2026-12-24": ["09:00-12:00"]'),
        'calendars.office.overrides["2026-12-23"][0]',
        6,
        "interval '22:00-10:00' overlaps '09:00-12:00' on 2026-12-24 (thu, override)",
    ),
    (
        HOURS,
        overrides('"2026-12-21": []', '"2026-12-22..2026-12-24": ["16:00-10:00"]'),
        'calendars.office.overrides["2026-12-22..2026-12-24"][0]',
        7,
        "override 2026-12-24: interval '16:00-10:00' overlaps '09:00-17:00' on 2026-12-25",
    ),
    (
        '{mon-fri: ["09:00-17:00"]}',
        '{mon-fri: ["09:00-17:00"], sun: ["22:00-06:00"]}'
        '\n    overrides:\n      "2026-12-28": ["05:00-10:00"]',
        'calendars.office.overrides["2026-12-28"][0]',
        6,
        "interval '05:00-10:00' overlaps '22:00-06:00' on 2026-12-27 (sun, weekly hours)",
    ),
    (
        HOURS,
        overrides('"2026-12-23": []', '"2026-12-30..2026-12-27": []'),
        'calendars.office.overrides["2026-12-30..2026-12-27"]',
        7,
        "override range '2026-12-30..2026-12-27' ends before it starts",
    ),
    (
        HOURS,
        overrides('"2026-12-27..2026-12-30": []', "2026-12-29: []"),
        'calendars.office.overrides["2026-12-29"]',
        7,
        "override keys '2026-12-27..2026-12-30' and '2026-12-29' both cover 2026-12-29",
    ),
    (
        HOURS,
        overrides('"2026-12-23": []', '"1969-12-31": []'),
        'calendars.office.overrides["1969-12-31"]',
        7,
        "override date '1969-12-31' is outside the years 1970-2200",
    ),
    (
        HOURS,
        overrides('"2201-01-01": []'),
        'calendars.office.overrides["2201-01-01"]',
        6,
        "override date '2201-01-01' is outside the years 1970-2200",
    ),
    (
        HOURS,
        overrides('"2026-12-23": ["09:00-12:00", "25:00-26:00"]'),
        'calendars.office.overrides["2026-12-23"][1]',
        6,
        "cannot parse interval '25:00-26:00' (no such time)",
    ),
    (
        HOURS,
        overrides('"2026-12-23": ["9-12"]'),
        'calendars.office.overrides["2026-12-23"][0]',
        6,
        "'9-12' is not an interval like 09:00-17:00",
    ),
    (
        HOURS,
        overrides('"2026-12-23": []', '"2026-13-01": []'),
        'calendars.office.overrides["2026-13-01"]',
        7,
        "cannot parse override date '2026-13-01'",
    ),
    (
        HOURS,
        overrides('"2026-12-23": []', "christmas: []"),
        "calendars.office.overrides.christmas",
        7,
        "'christmas' is not a date like 2026-12-24 or a range like 2026-12-27..2026-12-30",
    ),
    (
        HOURS,
        overrides('"2026-12-31": closed'),
        'calendars.office.overrides["2026-12-31"]',
        6,
        "expected a list, got a string",
    ),
    (
        "timezone: Europe/Oslo",
        "timezone: {from: customer_timezone, default: Europe/Olso}",
        "calendars.office.timezone.default",
        3,
        "unknown time zone 'Europe/Olso'",
    ),
    (
        "timezone: Europe/Oslo",
        "timezone:\n      from: customer_timezone\n      default: Mars/Olympus_Mons",
        "calendars.office.timezone.default",
        5,
        "unknown time zone 'Mars/Olympus_Mons'",
    ),
    (
        "timezone: Europe/Oslo",
        "timezone: {from: customer_timezone}",
        "calendars.office.timezone",
        3,
        "is not a time zone: an IANA name like Europe/Oslo, or {from: <ticket attribute>",
    ),
    (
        "targets: {first_answer: 1h}",
        "targets: {first_answer: 1h}\n    warnings: [75%, 150%]",
        "levels.gold.warnings[1]",
        9,
        "a share must be more than 0% and less than 100%",
    ),
    (
        "targets: {first_answer: 1h}",
        "targets: {first_answer: 1h}\n    warnings: [soon]",
        "levels.gold.warnings[0]",
        9,
        "'soon' is not a warning",
    ),
    (
        "targets: {first_answer: 1h}",
        "targets: {first_answer: 1h}\n    warnings: [30m, 30m]",
        "levels.gold.warnings",
        9,
        "has repeated items",
    ),
    (
        "targets: {first_answer: 1h}",
        "targets: {first_answer: 1h}\n    pause_when_status: pending",
        "levels.gold.pause_when_status",
        9,
        "expected a list, got a string",
    ),
    ("  gold:\n", "  gold: 3\n  silver:\n", "levels.gold", 6, "expected a mapping, got a number"),
    ("rules:\n", "rules: {}\nx:\n", "rules", 10, "expected a list, got a mapping"),
    ("levels:", "levels: []\nlvls:", "levels", 5, "expected a mapping, got a list"),
    (
        "calendar: office",
        "calendar: office\n  gold:",
        "levels.gold",
        8,
        "duplicate key 'gold' (first on line 6)",
    ),
    ("  - name: vip", "  - name: vip\n    name: vip2", "rules[0].name", 12, "duplicate key 'name'"),
    (
        "targets: {first_answer: 1h}",
        "targets: {first_answer: 1h, 1: 2}",
        'levels.gold.targets["1"]',
        8,
        "a key must be a string",
    ),
    ("    then: {set_level: gold}", "    then: {set_level: gold\n", "", 15, "YAML syntax error"),
    ("  gold:", "  gold:\n   - x", "", 8, "YAML syntax error"),
    ("rules:\n", "rules:\n  - &a [*a]\n", "rules[0][0]", 11, "a YAML alias refers to itself"),
]


@pytest.mark.parametrize(
    ("old", "new", "path", "line", "fragment"),
    INVALID,
    ids=[f"{case[2] or 'document'}:{case[4][:30]}" for case in INVALID],
)
def test_problem_has_path_and_line(old: str, new: str, path: str, line: int, fragment: str) -> None:
    assert old in BASE
    text = BASE.replace(old, new, 1)
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source="p.yaml")
    found = [(p.path, p.line) for p in info.value.problems if fragment in p.message]
    assert found == [(path, line)], info.value.problems


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a mapping, got null"),
        ("# only a comment\n", "expected a mapping, got null"),
        ("- a\n- b\n", "expected a mapping, got a list"),
        ("levels:\n", "expected a mapping, got null"),
        ("calendars: {}\n", "missing key 'levels'"),
        ("levels: {}\n", "must not be empty"),
    ],
)
def test_document_level_problems(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text)
    assert [p.message for p in info.value.problems] == [message]


SEVERAL = """\
calendars:
  office:
    timezone: Mars/Olympus_Mons
levels:
  gold:
    calendar: office
    targets: {first_answer: 4 hours, chat_answer: 0}
  silver:
    calendar: nowhere
    targets: {next_answer: 2h}
    warnings: [120%]
default_level: bronze
rules:
  - name: one
    when:
      all:
        - {field: subject, op: eq, value: x}
        - {field: tags, op: matches, value: "(unclosed"}
    then: {set_level: platinum}
  - name: one
    when: {not: {field: created_at, op: newer_than, value: soon}}
    then: {stop: maybe}
"""


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(SEVERAL, source="several.yaml")
    assert [(p.path, p.line) for p in info.value.problems] == [
        ("calendars.office.timezone", 3),
        ("levels.gold.targets.chat_answer", 7),
        ("levels.gold.targets.first_answer", 7),
        ("levels.silver.calendar", 9),
        ("levels.silver.warnings[0]", 11),
        ("default_level", 12),
        ("rules[0].when.all[0].field", 17),
        ("rules[0].when.all[1].value", 18),
        ("rules[0].then.set_level", 19),
        ("rules[1].name", 20),
        ("rules[1].when.not.value", 21),
        ("rules[1].then.stop", 22),
    ]


def test_policy_error_names_the_source_on_every_line() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(SEVERAL, source="several.yaml")
    lines = str(info.value).splitlines()
    assert len(lines) == len(info.value.problems) == 12
    assert all(line.startswith("several.yaml: ") for line in lines)
    assert (
        "several.yaml: levels.gold.targets.first_answer (line 7): '4 hours' is not a duration"
        in lines
    )


@pytest.mark.parametrize(
    ("problem", "text"),
    [
        (
            Problem("levels.gold.targets.first_answer", "'4 hours' is not a duration", 12),
            "levels.gold.targets.first_answer (line 12): '4 hours' is not a duration",
        ),
        (Problem("default_level", "unknown level 'x'"), "default_level: unknown level 'x'"),
        (Problem("", "YAML syntax error: boom", 3), "line 3: YAML syntax error: boom"),
        (Problem("", "cannot read"), "policy: cannot read"),
    ],
)
def test_problem_str(problem: Problem, text: str) -> None:
    assert str(problem) == text


def test_quoted_paths_for_odd_names() -> None:
    text = (
        'calendars:\n  "main office": {timezone: Nowhere/Land}\n'
        "levels: {a: {targets: {resolution: 1h}}}\n"
    )
    with pytest.raises(PolicyError) as info:
        parse_policy(text)
    [problem] = info.value.problems
    assert (problem.path, problem.line) == ('calendars["main office"].timezone', 2)


def test_lines_of_keys_merged_from_anchors() -> None:
    text = "x-targets: &t {first_answer: 4 hours}\nlevels:\n  a: {targets: *t}\n"
    with pytest.raises(PolicyError) as info:
        parse_policy(text)
    [problem] = info.value.problems
    assert (problem.path, problem.line) == ("levels.a.targets.first_answer", 1)


def test_lines_of_merge_keys() -> None:
    text = (
        "x-targets: &t {first_answer: 1h}\n"
        "levels:\n"
        "  a:\n"
        "    targets:\n"
        "      <<: *t\n"
        "      resolution: 4 hours\n"
    )
    with pytest.raises(PolicyError) as info:
        parse_policy(text)
    [problem] = info.value.problems
    assert (problem.path, problem.line) == ("levels.a.targets.resolution", 6)


# --- loading files and the check-policy command --------------------------------------------


def test_load_policy_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path / "nope.yaml")
    [problem] = info.value.problems
    assert "cannot read the policy" in problem.message
    assert str(info.value).startswith(str(tmp_path / "nope.yaml"))


def test_load_policy_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("levels: {blå: {targets: {resolution: 1h}}}".encode("latin-1"))
    with pytest.raises(PolicyError, match="cannot read the policy"):
        load_policy(path)


def test_check_policy_prints_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_policy(str(REPO / "deploy" / "policy.example.yaml")) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "oslo-office (Europe/Oslo; 5 override dates 2026-11-28..2026-12-30)" in out
    assert "customer-local (zone from the ticket's customer_timezone, default Europe/Oslo)" in out
    assert "rules (9):" in out
    # every condition of SPEC 8, summarised (the example shows them all)
    assert "pause when (status in ('on_hold', 'pending') or tags contains " in out
    assert "reset when team changed" in out and "cancel when custom_fields.spam eq True" in out
    for choice in ("fulfil", "cancel", "miss"):
        assert f"close before answer: {choice}" in out
    for mode in ("between_agent_updates", "after_customer_reply"):
        assert f"periodic update: {mode}" in out
    assert "warning:" not in out  # no condition of the example defeats another


def test_check_policy_prints_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SEVERAL)
    assert check_policy(str(path)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert (
        lines[0]
        == f"{path}: calendars.office.timezone (line 3): unknown time zone 'Mars/Olympus_Mons'"
    )
    assert len(lines) == 13 and lines[-1] == f"{path}: 12 problems; policy refused"


def test_check_policy_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_policy(str(tmp_path / "nope.yaml")) == 1
    assert "cannot read the policy" in capsys.readouterr().err


# --- section 8: overrides and time zones from the ticket ----------------------------------

SECTION_8 = """\
calendars:
  oslo-office:
    timezone: Europe/Oslo
    hours: {mon-fri: ["09:00-17:00"]}
    holidays: {country: "NO", dates: ["2026-12-24"]}
    overrides:                                   # local dates whose hours replace the week's
      "2026-12-23": ["09:00-12:00"]              # a half day
      2026-11-28: ["10:00-14:00"]                # an extra Saturday (unquoted: still a date)
      "2026-12-27..2026-12-30": ["10:00-15:00"]  # an inclusive range
      "2026-12-31": []                           # closed
  customer-local:
    timezone: {from: customer_timezone, default: Europe/Oslo}
    hours: {mon-fri: ["08:00-18:00"]}
levels:
  standard:
    calendar: oslo-office
    targets: {first_answer: 8h}
  local:
    calendar: customer-local
    targets: {first_answer: 4h}
"""


def test_section_8_calendars_load() -> None:
    policy = parse_policy(SECTION_8)
    office = policy.calendars["oslo-office"]
    assert [day.isoformat() for day, _ in office.overrides] == [
        "2026-11-28",
        "2026-12-23",
        "2026-12-27",
        "2026-12-28",
        "2026-12-29",
        "2026-12-30",
        "2026-12-31",
    ]
    assert office.is_open(datetime(2026, 11, 28, 12, 0, tzinfo=UTC))  # Saturday 13:00 Oslo
    assert not office.is_open(datetime(2026, 12, 31, 10, 0, tzinfo=UTC))
    local = policy.levels["local"].calendar
    choice = local.resolve({"customer_timezone": "America/Sao_Paulo"})
    assert (choice.zone, choice.source, choice.calendar.name) == (
        "America/Sao_Paulo",
        "ticket",
        "customer-local",
    )
    assert local.resolve({}).calendar is local


def test_schema_validates_section_8_calendars() -> None:
    jsonschema.Draft202012Validator(policy_schema()).validate(yaml.safe_load(SECTION_8))


def test_summarize_mentions_overrides_and_ticket_zones() -> None:
    text = summarize(parse_policy(SECTION_8, source="s8.yaml"))
    assert "oslo-office (Europe/Oslo; 7 override dates 2026-11-28..2026-12-31)" in text
    assert "customer-local (zone from the ticket's customer_timezone, default Europe/Oslo)" in text
