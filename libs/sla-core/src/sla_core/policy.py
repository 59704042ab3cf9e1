"""The SLA policy: calendars, levels with their targets and warnings, and the rules choosing them.

`parse_policy` turns the YAML of SPEC section 3 into a `Policy` or raises `PolicyError` with
every problem at once, each with its dotted path and line. It checks, in one pass:

1. YAML syntax, duplicate keys, non-string keys (policy_yaml);
2. the JSON Schema `schemas/policy.schema.json` (structure, types, formats);
3. what a schema cannot say: names of calendars and levels that must exist, durations and
   warnings that must parse and be positive, conditions (rules.compile_condition: fields,
   operators, value types, regular expressions), calendars that must build (time zones,
   intervals, holiday countries).

Where both the schema and step 3 object to the same node, step 3's message is kept; conditions
are checked by `compile_condition` alone, which is at least as strict as the schema there.

`Policy.version` is a content hash of the parsed document (sorted-key JSON): comments, layout and
key order do not change it; any change of content does.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema

from sla_core.calendar import ALWAYS_OPEN, Calendar, CalendarError, build_calendar
from sla_core.conditions import (
    CLOSE_CHOICES,
    NO_CONDITIONS,
    PERIODIC_MODES,
    LevelConditions,
    conflicts,
    either,
    fields_tested,
    status_condition,
    time_tests,
)
from sla_core.durations import duration_seconds, format_duration
from sla_core.events import METRICS
from sla_core.policy_yaml import NodePath, YamlDocument, format_path, read_yaml
from sla_core.rules import Condition, FieldTest, Rule, RuleError, compile_condition

_SHARE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)%$")
DEFAULT_REOPEN_WINDOW_US = 672 * 3600 * 1_000_000  # 28 days: Zendesk's longest auto-close


@dataclass(frozen=True)
class WarningThreshold:
    """A warning before a breach: at a share of the target elapsed, or some time before due."""

    label: str  # as written: "75%", "30m"
    share: float | None = None  # 0.75 for "75%"
    before_seconds: float | None = None  # 1800.0 for "30m"

    @classmethod
    def parse(cls, value: object) -> WarningThreshold:
        """Read a warning as written in the policy: `75%`, a duration, or seconds before due.

        Raises ValueError when it is none of these, or a share not strictly between 0% and 100%,
        or a duration that is not positive.
        """
        if isinstance(value, str) and (match := _SHARE.fullmatch(value)):
            share = float(match[1]) / 100
            if not 0 < share < 1:
                raise ValueError(f"{value!r}: a share must be more than 0% and less than 100%")
            return cls(label=value, share=share)
        try:
            seconds = duration_seconds(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a warning: a share like 75% or a time before due like 30m"
            ) from None
        if seconds <= 0:
            raise ValueError(f"{value!r}: a warning before due must be longer than 0")
        label = value if isinstance(value, str) else format_duration(seconds)
        return cls(label=label, before_seconds=seconds)

    def elapsed_at(self, target_seconds: float) -> float | None:
        """Business seconds elapsed at which the warning fires for a timer with this target.

        None when that would be at or before the start, or at or after the due (no warning then).
        """
        if self.share is not None:
            elapsed = target_seconds * self.share
        elif self.before_seconds is not None:
            elapsed = target_seconds - self.before_seconds
        else:
            return None
        return elapsed if 0 < elapsed < target_seconds else None


@dataclass(frozen=True)
class Level:
    """An SLA level: targets in business seconds per metric under its calendar."""

    name: str
    calendar: Calendar
    # metric -> business seconds; a metric absent has no timer
    targets: Mapping[str, float] = field(hash=False)
    warnings: tuple[WarningThreshold, ...] = ()
    pause_when_status: frozenset[str] = frozenset()
    conditions: LevelConditions = NO_CONDITIONS  # pause, reset, cancel; close and periodic


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a policy file: where (dotted path, line) and what."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path + (f" (line {self.line})" if self.line is not None else "")
        if not self.path:
            where = f"line {self.line}" if self.line is not None else "policy"
        return f"{where}: {self.message}"


class PolicyError(ValueError):
    """A policy that cannot be used; `problems` lists everything wrong with it, in file order."""

    def __init__(self, problems: Sequence[Problem], source: str = "<policy>") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__("\n".join(f"{source}: {problem}" for problem in self.problems))


@dataclass(frozen=True)
class Policy:
    """A validated policy. Immutable; a reload builds a new one."""

    version: str  # "sha256:" + 16 hex digits of the canonical content
    calendars: Mapping[str, Calendar] = field(hash=False)
    levels: Mapping[str, Level] = field(hash=False)
    default_level: str | None
    rules: tuple[Rule, ...]
    source: str = "<policy>"
    # how long a closed or deleted ticket is kept for a reopen, in event time (SPEC section 10)
    reopen_window_us: int = DEFAULT_REOPEN_WINDOW_US
    # every older_than/newer_than test of the rules and the levels' conditions: what can make a
    # ticket's answers change with time alone (sla_core.conditions)
    time_tests: tuple[FieldTest, ...] = field(default=(), hash=False)
    # whether a rule tests changed_at, which every event moves: then every event runs the rules
    rules_test_changed_at: bool = False
    # the YAML as parsed (the policy registry keeps it); not part of the policy's identity
    text: str = field(default="", compare=False, repr=False)

    @functools.cached_property
    def has_periodic(self) -> bool:
        """Whether some level has a periodic_update target."""
        return any("periodic_update" in level.targets for level in self.levels.values())

    def choose_level(self, facts: Mapping[str, Any], now: datetime) -> str | None:
        """The level for a ticket's facts at event time `now`.

        Rules run in order; each matching rule's set_level applies in turn and the last one
        applied wins; a matching rule with stop ends the run. No level applied: default_level.
        """
        chosen: str | None = None
        applied = False
        for rule in self.rules:
            if not rule.matches(facts, now):
                continue
            if rule.set_level is not None:
                chosen, applied = rule.set_level, True
            if rule.stop:
                break
        return chosen if applied else self.default_level


def load_policy(path: str | Path) -> Policy:
    """Read and parse a policy file; raises PolicyError (also when the file cannot be read)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError([Problem("", f"cannot read the policy: {exc}")], str(path)) from exc
    return parse_policy(text, source=str(path))


def parse_policy(text: str, *, source: str = "<policy>") -> Policy:
    """Parse and validate a policy document (YAML text).

    Raises PolicyError listing every problem found, each with its dotted path and line.
    """
    doc = read_yaml(text)
    found: list[tuple[NodePath, str, int | None]] = list(doc.problems)
    policy: Policy | None = None
    if doc.usable:
        schema_found = _schema_problems(doc.data)
        builder = _Builder({path for path, _ in schema_found})
        policy = builder.build(doc.data, source)
        checked = {path for path, _ in builder.problems}
        found += [(p, m, None) for p, m in schema_found if p not in checked]
        found += [(p, m, None) for p, m in builder.problems]
    if found or policy is None:
        raise PolicyError(_problems(doc, found) or [Problem("", "invalid policy")], source)
    return replace(policy, text=text)


def _problems(
    doc: YamlDocument, found: Sequence[tuple[NodePath, str, int | None]]
) -> list[Problem]:
    problems: dict[Problem, None] = {}  # ordered and without repeats
    for path, message, line in found:
        problems[Problem(format_path(path), message, line or doc.line_of(path))] = None
    return sorted(problems, key=lambda p: (p.line or 0, p.path))


def policy_schema() -> dict[str, Any]:
    """The JSON Schema of the policy file (schemas/policy.schema.json, shipped in the package)."""
    return dict(_validator().schema)


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    resource = importlib.resources.files("sla_core").joinpath("schemas/policy.schema.json")
    return jsonschema.Draft202012Validator(json.loads(resource.read_text(encoding="utf-8")))


_JSON_TYPES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "null": "null",
}


_YAML11_BOOLEANS = {"yes", "no", "y", "n", "on", "off"}


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else type(value).__name__


def _schema_problems(data: Any) -> list[tuple[NodePath, str]]:
    """Schema violations as (path, message) pairs, in our words; conditions are left out."""
    out: list[tuple[NodePath, str]] = []
    for error in _validator().iter_errors(data):
        path: NodePath = tuple(error.absolute_path)
        if len(path) >= 3 and path[0] == "rules" and path[2] == "when":
            continue  # compile_condition reports these, with more precise messages
        out.extend(_describe(error, path))
    return out


def _describe(error: jsonschema.ValidationError, path: NodePath) -> list[tuple[NodePath, str]]:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    kind, value, instance = error.validator, error.validator_value, error.instance
    if "propertyNames" in error.relative_schema_path:
        path = (*path, str(instance))
    if "x-message" in schema:
        return [(path, f"{instance!r} {schema['x-message']}")]
    if kind == "additionalProperties" and isinstance(instance, Mapping):
        known = list(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        hint = f"; expected {', '.join(known)}" if known else ""
        return [
            ((*path, key), f"unknown key {key!r}{hint}")
            for key in instance
            if key not in known and not any(p.search(key) for p in patterns)
        ]
    if kind == "required" and isinstance(instance, Mapping):
        return [(path, f"missing key {key!r}") for key in value if key not in instance]
    if kind == "type":
        types = [value] if isinstance(value, str) else list(value)
        expected = " or ".join(_JSON_TYPES.get(t, t) for t in types)
        message = f"expected {expected}, got {_json_type(instance)}"
        if "boolean" in types and str(instance).lower() in _YAML11_BOOLEANS:
            message += f" ({instance!r} is not a boolean in YAML 1.2: write true or false)"
        return [(path, message)]
    if kind == "enum":
        return [(path, f"{instance!r} is not one of: {', '.join(map(str, value))}")]
    if kind in ("minProperties", "minItems"):
        return [(path, "must not be empty")]
    if kind == "uniqueItems":
        return [(path, "has repeated items")]
    return [(path, error.message)]


class _Builder:
    """Step 3 of validation, building the policy's objects as it goes; tolerant of bad shapes,
    which the schema reports."""

    def __init__(self, schema_paths: set[NodePath]) -> None:
        self.schema_paths = schema_paths
        self.problems: list[tuple[NodePath, str]] = []

    def add(self, path: NodePath, message: str) -> None:
        self.problems.append((path, message))

    def flagged(self, prefix: NodePath) -> bool:
        """Whether the schema already objected to something at or under `prefix`."""
        return any(path[: len(prefix)] == prefix for path in self.schema_paths)

    def build(self, data: Any, source: str) -> Policy | None:
        if not isinstance(data, Mapping):
            return None
        declared = _mapping(data.get("calendars"))
        calendars = self.calendars(declared)
        raw_levels = _mapping(data.get("levels"))
        levels = {
            name: level
            for name, spec in raw_levels.items()
            if (level := self.level(name, spec, calendars, declared)) is not None
        }
        default_level = data.get("default_level")
        if isinstance(default_level, str) and default_level not in raw_levels:
            self.add(("default_level",), _unknown("level", default_level, raw_levels))
        rules = self.rules(data.get("rules"), raw_levels)
        reopen_window_us = self.reopen_window(_mapping(data.get("policy")).get("reopen_window"))
        if self.problems or self.schema_paths:
            return None
        return Policy(
            version=policy_version(data),
            calendars=MappingProxyType(calendars),
            levels=MappingProxyType(levels),
            default_level=default_level,
            rules=rules,
            source=source,
            reopen_window_us=reopen_window_us,
            rules_test_changed_at=any("changed_at" in fields_tested(r.condition) for r in rules),
            time_tests=time_tests(
                [r.condition for r in rules]
                + [c for lv in levels.values() for c in _conditions_of(lv.conditions)]
            ),
        )

    def reopen_window(self, raw: Any) -> int:
        if raw is None:
            return DEFAULT_REOPEN_WINDOW_US
        try:
            seconds = duration_seconds(raw)
        except ValueError as exc:
            self.add(("policy", "reopen_window"), str(exc))
            return DEFAULT_REOPEN_WINDOW_US
        if seconds <= 0:
            self.add(("policy", "reopen_window"), f"must be longer than 0, not {raw!r}")
        return round(seconds * 1_000_000)

    def calendars(self, raw: Mapping[str, Any]) -> dict[str, Calendar]:
        calendars: dict[str, Calendar] = {}
        for name, spec in raw.items():
            path: NodePath = ("calendars", name)
            if not isinstance(spec, Mapping) or self.flagged(path):
                continue
            try:
                calendars[name] = build_calendar(name, spec)
            except (ValueError, TypeError, LookupError) as exc:
                message = str(exc).removeprefix(f"calendar {name!r}: ")
                where = exc.where if isinstance(exc, CalendarError) else ()
                self.add((*path, *where) if where else _locate(path, spec, message), message)
        return calendars

    def level(
        self,
        name: str,
        spec: Any,
        calendars: Mapping[str, Calendar],
        declared: Mapping[str, Any],  # every calendar named, built or not
    ) -> Level | None:
        path: NodePath = ("levels", name)
        if not isinstance(spec, Mapping):
            return None
        before = len(self.problems)
        calendar = ALWAYS_OPEN
        calendar_name = spec.get("calendar")
        if isinstance(calendar_name, str):
            if calendar_name in calendars:
                calendar = calendars[calendar_name]
            elif calendar_name not in declared and calendar_name != ALWAYS_OPEN.name:
                message = _unknown("calendar", calendar_name, declared) + " (omit it for 24/7)"
                self.add((*path, "calendar"), message)
        targets: dict[str, float] = {}
        for metric, value in _mapping(spec.get("targets")).items():
            try:
                seconds = duration_seconds(value)
            except ValueError as exc:
                self.add((*path, "targets", metric), str(exc))
                continue
            if seconds <= 0:
                self.add(
                    (*path, "targets", metric), f"a target must be longer than 0, not {value!r}"
                )
            targets[metric] = seconds
        warnings: list[WarningThreshold] = []
        for index, raw in enumerate(_sequence(spec.get("warnings"))):
            try:
                warnings.append(WarningThreshold.parse(raw))
            except ValueError as exc:
                self.add((*path, "warnings", index), str(exc))
        pauses = frozenset(
            s for s in _sequence(spec.get("pause_when_status")) if isinstance(s, str)
        )
        conditions = self.conditions(path, spec, pauses)
        if len(self.problems) > before or self.flagged(path):
            return None
        return Level(name, calendar, MappingProxyType(targets), tuple(warnings), pauses, conditions)

    def conditions(
        self, path: NodePath, spec: Mapping[str, Any], pauses: frozenset[str]
    ) -> LevelConditions:
        compiled: dict[str, Condition | None] = {}
        for key in ("pause_when", "reset_when", "cancel_when"):
            compiled[key] = None
            if spec.get(key) is not None:
                try:
                    compiled[key] = compile_condition(spec[key], (*path, key))
                except RuleError as exc:
                    for where, message in exc.problems:
                        self.add(where, message)
        close = spec.get("close_before_answer", "fulfil")
        if close not in CLOSE_CHOICES:
            self.add((*path, "close_before_answer"), f"must be one of {', '.join(CLOSE_CHOICES)}")
        mode = _mapping(spec.get("periodic_update")).get("mode", PERIODIC_MODES[0])
        if mode not in PERIODIC_MODES:
            message = f"must be one of {', '.join(PERIODIC_MODES)}"
            self.add((*path, "periodic_update", "mode"), message)
        return LevelConditions(
            pause=either(status_condition(pauses), compiled["pause_when"]),
            reset=compiled["reset_when"],
            cancel=compiled["cancel_when"],
            close_before_answer=str(close),
            periodic_mode=str(mode),
        )

    def rules(self, raw: Any, levels: Mapping[str, Any]) -> tuple[Rule, ...]:
        rules: list[Rule] = []
        names: dict[str, int] = {}
        for index, spec in enumerate(_sequence(raw)):
            path: NodePath = ("rules", index)
            if not isinstance(spec, Mapping):
                continue
            name = spec.get("name")
            if isinstance(name, str):
                if name in names:
                    self.add(
                        (*path, "name"), f"duplicate rule name {name!r} (rules[{names[name]}])"
                    )
                names.setdefault(name, index)
            condition = None
            if "when" in spec:
                try:
                    condition = compile_condition(spec["when"], (*path, "when"))
                except RuleError as exc:
                    self.problems.extend(exc.problems)
            then = _mapping(spec.get("then"))
            set_level = then.get("set_level")
            if isinstance(set_level, str) and set_level not in levels:
                self.add((*path, "then", "set_level"), _unknown("level", set_level, levels))
            if condition is not None and isinstance(name, str) and not self.flagged(path):
                stop = then.get("stop", False) is True
                rules.append(
                    Rule(name, condition, set_level if isinstance(set_level, str) else None, stop)
                )
        return tuple(rules)


def _conditions_of(conditions: LevelConditions) -> tuple[Condition | None, ...]:
    return (conditions.pause, conditions.reset, conditions.cancel)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list) else []


def _unknown(what: str, name: str, known: Mapping[str, Any]) -> str:
    listed = ", ".join(map(str, known)) or "none"
    return f"unknown {what} {name!r}; {what}s: {listed}"


def _locate(path: NodePath, spec: Any, message: str) -> NodePath:
    """The node under `path` whose value the message quotes (a calendar error names its culprit)."""
    if isinstance(spec, Mapping):
        items: Sequence[tuple[str | int, Any]] = list(spec.items())
    elif isinstance(spec, list):
        items = list(enumerate(spec))
    else:
        return path
    for key, value in items:
        if isinstance(value, Mapping | list):
            found = _locate((*path, key), value, message)
            if found != (*path, key):
                return found
        elif isinstance(value, str) and repr(value) in message:
            return (*path, key)
    return path


def policy_version(data: Any) -> str:
    """Content hash of a parsed policy document: "sha256:" and 16 hex digits of its sorted-key
    JSON, so comments, layout and key order do not change it."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def summarize(policy: Policy) -> str:
    """A human summary: source and version, calendars, levels with targets, the rules in order."""
    lines = [f"policy {policy.source} ({policy.version})"]
    lines.append(
        "calendars: "
        + (", ".join(_describe_calendar(c) for c in policy.calendars.values()) or "none")
    )
    lines.append(f"levels ({len(policy.levels)}):")
    for level in policy.levels.values():
        targets = ", ".join(
            f"{metric} {format_duration(level.targets[metric])}"
            for metric in METRICS
            if metric in level.targets
        )
        lines.append(f"  {level.name} [{level.calendar.name}]: {targets}")
        if level.warnings:
            lines.append("    warnings: " + ", ".join(w.label for w in level.warnings))
        conditions = level.conditions
        for what, condition in (
            ("pause when", conditions.pause),
            ("reset when", conditions.reset),
            ("cancel when", conditions.cancel),
        ):
            if condition is not None:
                lines.append(f"    {what} {condition}")
        if conditions.close_before_answer != "fulfil" or "first_answer" in level.targets:
            lines.append(f"    close before answer: {conditions.close_before_answer}")
        if "periodic_update" in level.targets:
            lines.append(f"    periodic update: {conditions.periodic_mode}")
        lines.extend(f"    warning: {text}" for text in conflicts(level.name, conditions))
    lines.append(f"default level: {policy.default_level or 'none (unmatched tickets get no SLA)'}")
    lines.append(f"rules ({len(policy.rules)}):")
    for index, rule in enumerate(policy.rules):
        actions = [f"set {rule.set_level}"] if rule.set_level else []
        actions += ["stop"] if rule.stop else []
        lines.append(f"  [{index}] {rule.name}: {', '.join(actions)} when {rule.condition}")
    window = format_duration(policy.reopen_window_us / 1_000_000)
    lines.append(f"reopen window: {window} (then a closed or deleted ticket is forgotten)")
    return "\n".join(lines)


def _describe_calendar(calendar: Calendar) -> str:
    if calendar.zone_from is None:
        about = [calendar.timezone]
    else:
        source = calendar.zone_from
        about = [f"zone from the ticket's {source.attribute}, default {source.default}"]
    if calendar.overrides:
        first, last = calendar.overrides[0][0], calendar.overrides[-1][0]
        count = len(calendar.overrides)
        dates = first.isoformat() if count == 1 else f"{first.isoformat()}..{last.isoformat()}"
        about.append(f"{count} override date{'s' if count > 1 else ''} {dates}")
    return f"{calendar.name} ({'; '.join(about)})"
