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
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sla_core.calendar import ALWAYS_OPEN, Calendar, CalendarError, build_calendar
from sla_core.conditions import (
    CLOSE_CHOICES,
    PERIODIC_MODES,
    LevelConditions,
    either,
    fields_tested,
    status_condition,
    time_tests,
)
from sla_core.durations import duration_seconds
from sla_core.instants import to_us
from sla_core.levels import Level, WarningThreshold
from sla_core.policy_schema import schema_problems
from sla_core.policy_yaml import NodePath, YamlDocument, format_path, read_yaml
from sla_core.rule_compile import compile_condition
from sla_core.rules import Condition, FieldTest, Rule, RuleError

DEFAULT_REOPEN_WINDOW_US = 672 * 3600 * 1_000_000  # 28 days: Zendesk's longest auto-close


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
    # the instant (epoch microseconds) from which tickets created take this version; None:
    # from the beginning of time (SPEC section 8, `sla_core.policy_history`)
    effective_from_us: int | None = None
    # whether the tickets of older versions move to this one, their running timers re-targeted
    retarget_open: bool = False
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
        schema_found = schema_problems(doc.data)
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
        block = _mapping(data.get("policy"))
        reopen_window_us = self.reopen_window(block.get("reopen_window"))
        effective_from_us = self.effective_from(block.get("effective_from"))
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
            effective_from_us=effective_from_us,
            retarget_open=block.get("retarget_open", False) is True,
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

    def effective_from(self, raw: Any) -> int | None:
        if raw is None or not isinstance(raw, str):
            return None  # absent; another type is the schema's to report
        try:
            instant = datetime.fromisoformat(raw)
        except ValueError:
            instant = None
        if instant is None or instant.tzinfo is None or "T" not in raw.upper():
            self.add(
                ("policy", "effective_from"),
                f"{raw!r} is not an RFC 3339 instant with an offset, like 2026-12-01T00:00:00Z",
            )
            return None
        return to_us(instant)

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
