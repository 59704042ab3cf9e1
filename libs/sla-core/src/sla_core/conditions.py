"""A level's conditions (SPEC section 8): when its running timers pause, reset or are cancelled,
and the instants at which time alone changes a condition's answer.

Conditions use the rule language (`sla_core.rules`) and are judged on every event of a ticket,
replies and answers included, and again when a time operator flips (`next_flip_us`).

**Precedence.** When several hold on one event: `cancel_when` first (the running timers end as
`sla.cancelled` with reason `cancel_condition`, and none starts while it holds), then
`reset_when` (the running timers end with reason `reset`, and the same metrics start new cycles
at that instant), then `pause_when` (the running timers, new cycles included, pause while it
holds and resume when it stops holding). `pause_when_status: [...]` is shorthand for
`pause_when: {field: status, op: in, value: [...]}`; when both are given, either pauses.

**Time.** `older_than` and `newer_than` compare a timestamp's age at the instant of judgement,
so their answer changes at a known instant with nothing else happening: `created_at older_than
4h` becomes true just after `created_at + 4h`, `newer_than 4h` becomes false at it. The engine
arms an alarm for the earliest such instant of a ticket and judges the rules and conditions
again there, in event time, exactly as at an event: live, in a replay and after a restore alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, NamedTuple

from sla_core.instants import to_us
from sla_core.rules import AllOf, AnyOf, Condition, FieldKind, FieldTest, Not, lookup

CLOSE_CHOICES: Final = ("fulfil", "cancel", "miss")
PERIODIC_MODES: Final = ("between_agent_updates", "after_customer_reply")
_US = 1_000_000


@dataclass(frozen=True)
class LevelConditions:
    """What a level says beyond its targets: its conditions and two choices."""

    pause: Condition | None = None  # pause_when, or'ed with pause_when_status
    reset: Condition | None = None
    cancel: Condition | None = None
    # what ticket.closed does to a running answer timer: fulfil (the close is the answer),
    # cancel (it leaves the reports) or miss (counted missed at the close)
    close_before_answer: str = "fulfil"
    periodic_mode: str = "between_agent_updates"  # how periodic_update runs (module periodic)

    # whether an event that changes no field leaves the verdict as it was, so the conditions
    # need no judging then: no condition tests changed_at (which every event moves), and
    # reset_when holds only on a change; time flips are judged apart, at their instants
    quiet: bool = field(init=False, repr=False, compare=False)
    judged: bool = field(init=False, repr=False, compare=False)  # has pause or cancel at all
    timed: bool = field(init=False, repr=False, compare=False)  # time alone can change them

    def __post_init__(self) -> None:
        object.__setattr__(self, "judged", self.pause is not None or self.cancel is not None)
        timed = bool(time_tests((self.pause, self.reset, self.cancel)))
        object.__setattr__(self, "timed", timed)
        tests = (self.pause, self.reset, self.cancel)
        moves = any("changed_at" in fields_tested(c) for c in tests)
        quiet = not moves and (self.reset is None or needs_change(self.reset))
        object.__setattr__(self, "quiet", quiet)


class Verdict(NamedTuple):
    """What a level's conditions say of a ticket at one instant, precedence applied."""

    cancel: bool
    reset: bool
    pause: bool


def judge(conditions: LevelConditions, facts: Mapping[str, Any], now: datetime) -> Verdict:
    """The level's verdict on `facts` at event time `now` (cancel, else reset; pause apart)."""
    cancel = conditions.cancel is not None and conditions.cancel.evaluate(facts, now)
    reset = not cancel and conditions.reset is not None and conditions.reset.evaluate(facts, now)
    pause = conditions.pause is not None and conditions.pause.evaluate(facts, now)
    return Verdict(cancel, reset, pause)


def time_tests(conditions: Iterable[Condition | None]) -> tuple[FieldTest, ...]:
    """Every `older_than`/`newer_than` test in the conditions, once each: what can flip."""
    found: dict[FieldTest, None] = {}
    for condition in conditions:
        for test in _leaves(condition):
            if test.op in ("older_than", "newer_than"):
                found[test] = None
    return tuple(found)


def next_flip_us(tests: Iterable[FieldTest], facts: Mapping[str, Any], after_us: int) -> int | None:
    """The earliest instant after `after_us` at which one of the time `tests` changes its
    answer for `facts`, in epoch microseconds; None when none will."""
    earliest: int | None = None
    for test in tests:
        stamp = _timestamp(lookup(facts, test.field))
        if stamp is None:
            continue
        # older_than d: age > d, true from just after stamp + d; newer_than d: age < d, false
        # from stamp + d on
        flip = to_us(stamp) + round(test.value * _US) + (1 if test.op == "older_than" else 0)
        if flip > after_us and (earliest is None or flip < earliest):
            earliest = flip
    return earliest


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None


def _leaves(condition: Condition | None) -> Iterator[FieldTest]:
    if isinstance(condition, FieldTest):
        yield condition
    elif isinstance(condition, AllOf | AnyOf):
        for member in condition.conditions:
            yield from _leaves(member)
    elif isinstance(condition, Not):
        yield from _leaves(condition.condition)


def fields_tested(condition: Condition | None) -> set[str]:
    """The fields a condition looks at."""
    return {test.field for test in _leaves(condition)}


def needs_change(condition: Condition) -> bool:
    """Whether the condition can hold only on an event that changed some field: it cannot
    hold without one of its `changed` tests holding."""
    if isinstance(condition, FieldTest):
        return condition.op == "changed" and condition.value is True
    if isinstance(condition, AllOf):
        return any(needs_change(c) for c in condition.conditions)
    if isinstance(condition, AnyOf):
        return all(needs_change(c) for c in condition.conditions)
    return False


def status_condition(statuses: Iterable[str]) -> Condition | None:
    """`pause_when_status` as the condition it is shorthand for."""
    values = tuple(sorted(statuses))
    if not values:
        return None
    return FieldTest(field="status", op="in", value=values, kind=FieldKind.STRING)


def either(a: Condition | None, b: Condition | None) -> Condition | None:
    """A condition that holds when `a` or `b` does (None when both are None)."""
    if a is None or b is None:
        return a if b is None else b
    return AnyOf((a, b))


def conflicts(name: str, conditions: LevelConditions) -> list[str]:
    """Warnings about conditions that defeat each other, for `sla check-policy`.

    A cancel or reset condition that tests a field the pause condition also tests can end
    timers the pause was meant to hold: ServiceNow's known trap, where a start condition that
    excludes the pause state cancels instead of pausing."""
    found: list[str] = []
    paused_fields = {t.field for t in _leaves(conditions.pause)}
    for what, condition in (("cancel_when", conditions.cancel), ("reset_when", conditions.reset)):
        shared = sorted(paused_fields & {t.field for t in _leaves(condition)})
        if shared:
            found.append(
                f"levels.{name}: {what} tests {', '.join(shared)}, which pause_when tests too: "
                f"a ticket meant to pause may have its timers ended instead"
            )
    return found


NO_CONDITIONS: Final = LevelConditions()  # a level that says nothing beyond its targets
