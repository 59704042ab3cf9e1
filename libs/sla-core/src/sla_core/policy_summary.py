"""A human summary of a policy, for `sla check-policy`: calendars, levels with their targets and
conditions (with warnings about conditions that defeat each other), the rules in order."""

from __future__ import annotations

from sla_core.calendar import Calendar
from sla_core.conditions import conflicts
from sla_core.durations import format_duration
from sla_core.events import METRICS
from sla_core.instants import from_us
from sla_core.policy import Policy


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
    if policy.effective_from_us is None:
        lines.append("effective: from the beginning of time (every ticket moves to this version)")
    else:
        since = from_us(policy.effective_from_us).isoformat().replace("+00:00", "Z")
        lines.append(f"effective from: {since} (tickets created from then on)")
    if policy.retarget_open:
        lines.append("retarget open: true (open timers of older tickets re-target to it)")
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
