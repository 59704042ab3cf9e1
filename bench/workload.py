"""Synthetic workloads shared by the engine benchmarks: a policy, ticket events, a filled engine.

Every ticket is created with a department and opens two timers (first answer and resolution, both
1 h on a 24/7 calendar), so their dues are the creation time plus one hour: choosing the creation
times chooses where the dues fall.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from sla_core.events import TicketEvent
from sla_core.policy import Policy, parse_policy
from sla_engine.engine import PartitionEngine

POLICY = """
levels:
  standard:
    targets: {first_answer: 1h, next_answer: 1h, resolution: 1h}
default_level: standard
"""
TARGET = timedelta(hours=1)
TIMERS_PER_TICKET = 2
DEPARTMENTS = ("support", "sales", "billing")


def policy() -> Policy:
    return parse_policy(POLICY, source="bench")


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
