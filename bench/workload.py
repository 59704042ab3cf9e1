"""Synthetic workloads shared by the engine benchmarks: a policy, ticket events, a filled engine.

Every ticket is created with a department and opens two timers (first answer and resolution, both
1 h on a 24/7 calendar), so their dues are the creation time plus one hour: choosing the creation
times chooses where the dues fall.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from sla_core.events import TicketEvent
from sla_core.partition.engine import PartitionEngine
from sla_core.policy import Policy, parse_policy

POLICY = """
levels:
  standard:
    targets: {first_answer: 1h, next_answer: 1h, resolution: 1h}
default_level: standard
"""
# the same targets with conditions on the level and a time-based rule, all of them judged on
# every ticket: the pause and cancel conditions at each start, and the rule's older_than flip
# (one heap entry per ticket, surfacing just after its dues, among the breaches)
CONDITIONS_POLICY = """
levels:
  standard:
    targets: {first_answer: 1h, next_answer: 1h, resolution: 1h}
    pause_when: {any: [{field: status, op: in, value: [pending, on_hold]},
                       {field: tags, op: contains, value: waiting-for-vendor}]}
    reset_when: {field: team, op: changed}
    cancel_when: {field: custom_fields.spam, op: eq, value: true}
  escalated:
    targets: {first_answer: 1h, next_answer: 1h, resolution: 1h}
    pause_when: {field: status, op: eq, value: pending}
    cancel_when: {field: custom_fields.spam, op: eq, value: true}
default_level: standard
rules:
  - name: escalate what waits long
    when: {all: [{field: created_at, op: older_than, value: 1h},
                 {field: priority, op: eq, value: urgent}]}
    then: {set_level: escalated}
"""
TARGET = timedelta(hours=1)
TIMERS_PER_TICKET = 2
DEPARTMENTS = ("support", "sales", "billing")


def policy(*, conditions: bool = False) -> Policy:
    """The benchmark policy; `conditions`: with conditions and a time-based rule (above)."""
    return parse_policy(CONDITIONS_POLICY if conditions else POLICY, source="bench")


def created(ticket_id: str, at: datetime, n: int) -> TicketEvent:
    return TicketEvent(
        id=f"{ticket_id}-c",
        source="bench",
        type="ticket.created",
        time=at,
        ticket_id=ticket_id,
        ticket={"department": DEPARTMENTS[n % 3], "priority": "normal"},
    )


def tickets_due_in(
    count: int, first_due: datetime, window: timedelta, prefix: str = "t"
) -> Iterator[TicketEvent]:
    """`count` ticket creations in time order whose dues spread evenly over the window."""
    step = window / max(count, 1)
    for n in range(count):
        yield created(f"{prefix}{n}", first_due - TARGET + step * n, n)


def fill_engine(
    engine: PartitionEngine, events: Iterator[TicketEvent], wall: datetime | None = None
) -> None:
    """Apply the events, dropping outputs and dirty marks (as a snapshot round would)."""
    wall = wall or datetime.now(UTC)
    handle = engine.handle
    for n, event in enumerate(events):
        handle(event, wall)
        if n % 10_000 == 0:
            engine.dirty.clear()
    engine.dirty.clear()
