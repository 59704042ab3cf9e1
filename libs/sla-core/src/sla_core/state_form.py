"""The snapshot form of a ticket's state: JSON-ready dicts with short keys, and back.

A key appears only when it says something (a zone other than the calendar's, more than one
holder, an end or a flip instant), so the rows of tickets that use none of it stay small.

A ticket's row names the policy binding it holds ("v", `sla_core.policy_history`), and a
timer's the version that set its target ("pv") only when that is not the binding's origin.
Rows written before versions were kept have neither: the engine binds them to its newest
version, and their timers name it, as they did then.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from sla_core import ownership
from sla_core.calendar import ALWAYS_OPEN, CalendarError
from sla_core.instants import from_us as _from_us
from sla_core.instants import to_us as _us
from sla_core.policy import Policy
from sla_core.policy_history import Binding
from sla_core.ticket_state import (
    METRIC_INDEX,
    TicketState,
    Timer,
)
from sla_core.zones import ZoneSource


def timer_to_dict(timer: Timer, origin: str = "") -> dict[str, Any]:
    """A JSON-ready form of a timer (times as epoch microseconds).

    A timer whose zone came from the ticket carries it ("z"), and "zs": "default" when that was
    the calendar's default; a timer of a fixed-zone calendar carries neither, so its form is what
    it was before zones came from tickets."""
    raw = {
        "m": timer.metric,
        "c": timer.cycle,
        "l": timer.level,
        "k": timer.calendar.name,
        "t": timer.target_seconds,
        "s": timer.started_us,
        "p": [[a, b] for a, b in timer.pauses] if timer.pauses else [],
        "ps": timer.paused_us,
        "b": timer.breached,
        "w": timer.warnings,
        "du": timer.due_us,
        "q": timer.seq,
    }
    source = timer.zone_source
    if source != "calendar":
        raw["z"] = timer.calendar.timezone
        if source == "default":
            raw["zs"] = source
    if timer.owners:  # only timers that changed hands: the others' rows stay as they were
        raw["o"] = ownership.owners_to_raw(timer.owners)
    if timer.policy_version != origin:  # targeted by another version than the ticket's own
        raw["pv"] = timer.policy_version
    return raw


# restored timers share their warning plans as new ones do (see _warning_plan)
_warning_plans: dict[tuple[tuple[str, float], ...], tuple[tuple[str, float], ...]] = {}


def timer_from_dict(
    ticket_id: str, raw: Mapping[str, Any], policy: Policy, origin: str | None = None
) -> Timer:
    """Rebuild a timer; its calendar is looked up by name in the policy now in force, and read
    in the zone the timer started with. Its policy version is the row's, else `origin` (the
    ticket's binding's), else the policy's."""
    pauses = raw["p"]
    plan = tuple((label, e) for label, e in raw["w"])
    calendar = policy.calendars.get(raw["k"], ALWAYS_OPEN)
    zone = raw.get("z")
    source: ZoneSource = "calendar" if calendar.zone_from is None else "default"
    if zone is not None:
        source = raw.get("zs", "ticket")
        try:
            calendar = calendar.in_zone(zone)
        except CalendarError:  # a zone this machine's tz database lacks: the policy's then
            source = "default"
    return Timer(  # positional, in field order: restore builds millions of these
        ticket_id,
        raw["m"],
        raw["c"],
        raw["l"],
        calendar,
        raw["t"],
        raw["s"],
        tuple((a, b) for a, b in pauses) if pauses else (),
        raw["ps"],
        raw["du"],
        raw["b"],
        _warning_plans.setdefault(plan, plan),
        raw["q"],
        0,
        source,
        ownership.owners_from_raw(raw.get("o")),
        _version(raw.get("pv"), policy.version if origin is None else origin),
    )


def _version(written: str | None, default: str) -> str:
    # interned: a million timers share a few versions
    return default if written is None or written == default else sys.intern(written)


def state_to_dict(state: TicketState) -> dict[str, Any]:
    """A JSON-ready form of a ticket's state."""
    last = state.last_timer
    last_running = last is not None and state.running.get(last.metric) is last
    created, changed = state.created_at, state.changed_at
    binding = state.binding
    origin = binding.origin if binding is not None else ""
    raw: dict[str, Any] = {
        "a": state.attrs,
        "cr": _us(created) if created is not None else None,
        "ch": _us(changed) if changed is not None else None,
        "l": state.level,
        "aa": state.agent_answered,
        "cl": state.closed,
        "d": state.deleted,
        "cy": state.cycles,
        "r": [timer_to_dict(t, origin) for t in state.running.values()],
        "lt": timer_to_dict(last, origin) if last is not None and not last_running else None,
        "lr": last.metric if last is not None and last_running else None,
        "sn": state.seen,
    }
    if state.ended_us is not None:  # only closed and deleted tickets carry it
        raw["e"] = state.ended_us
    if state.flip_us is not None:  # only tickets whose rules or conditions time can change
        raw["fl"] = state.flip_us
    if binding is not None:
        raw["v"] = binding.key
    return raw


def state_from_dict(
    ticket_id: str, raw: Mapping[str, Any], policy: Policy, binding: Binding | None = None
) -> TicketState:
    """Rebuild a ticket's state from `state_to_dict` output; held by `binding`, when given
    (whose policy its timers' calendars then come from: the version in force for it now)."""
    origin = None
    if binding is not None:
        policy, origin = binding.policy, binding.origin
    running = {t["m"]: timer_from_dict(ticket_id, t, policy, origin) for t in raw["r"]}
    last = running.get(raw["lr"]) if raw["lr"] is not None else None
    if raw["lt"] is not None:
        last = timer_from_dict(ticket_id, raw["lt"], policy, origin)
    created = _from_us(raw["cr"]) if raw["cr"] is not None else None
    changed = _from_us(raw["ch"]) if raw["ch"] is not None else None
    ended = raw.get("e")
    if ended is None and (raw["cl"] or raw["d"]) and raw["ch"] is not None:
        ended = raw["ch"]  # a row from before rows carried it: its last change is the best guess
    return TicketState(
        ticket_id=ticket_id,
        attrs=raw["a"],
        created_at=created,
        changed_at=changed if changed != created else created,
        level=raw["l"],
        agent_answered=raw["aa"],
        closed=raw["cl"],
        deleted=raw["d"],
        cycles=[*raw["cy"], *[0] * (len(METRIC_INDEX) - len(raw["cy"]))],  # older rows: 5
        running=running,
        last_timer=last,
        seen=list(raw["sn"]),
        ended_us=ended,
        flip_us=raw.get("fl"),
        binding=binding,
    )
