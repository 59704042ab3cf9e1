"""Ticket events in, SLA lifecycle events out: the domain's two vocabularies (SPEC 2 and 5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

TICKET_TYPES: Final = frozenset(
    {
        "ticket.created",
        "ticket.customer_replied",
        "ticket.answered",
        "ticket.updated",
        "ticket.closed",
        "ticket.reopened",
        "ticket.deleted",
    }
)

SLA_TYPES: Final = (
    "sla.started",
    "sla.warning",
    "sla.breached",
    "sla.fulfilled",
    "sla.missed",
    "sla.cancelled",
    "sla.retargeted",
    "sla.paused",
    "sla.resumed",
)
BREACH_TOPIC_TYPES: Final = frozenset({"sla.warning", "sla.breached"})

# The data.ticket attributes that are strings or null (schemas/ticket-event.schema.json).
TEXT_ATTRIBUTES: Final = (
    "source",
    "status",
    "priority",
    "department",
    "agent",
    "agent_status",
    "requester",
    "customer_group",
    "referrer_url",
    "last_message_by",
)
# The ticket attributes a ticket event may carry in data.ticket; rules may test each of them.
TICKET_ATTRIBUTES: Final = (*TEXT_ATTRIBUTES, "tags", "custom_fields", "created_from_invitation")
# The attributes copied onto every SLA event (SPEC section 5).
REPORTED_ATTRIBUTES: Final = (
    "department",
    "agent",
    "requester",
    "priority",
    "customer_group",
    "source",
    "tags",
)


@dataclass(slots=True)
class TicketEvent:
    """One decoded ticket event: a CloudEvent whose subject is the ticket id. Treat it as
    immutable (not frozen only because a frozen dataclass costs 4x as much to build, and the
    engine builds one per record)."""

    id: str
    source: str
    type: str
    time: datetime  # aware; when it happened in the helpdesk
    ticket_id: str
    ticket: dict[str, Any] = field(default_factory=dict)  # attributes present in data.ticket
    channel: str | None = None
    automated: bool = False

    @property
    def dedup_key(self) -> str:
        """The identity of the event: a repeated (source, id) is a duplicate."""
        return f"{self.source}\x1f{self.id}"


@dataclass(slots=True)
class SlaEvent:
    """One SLA lifecycle event, before the edge stamps `emitted_at` and serialises it. Treat it
    as immutable (not frozen for the same reason as TicketEvent)."""

    id: str
    type: str
    time: datetime  # event time: a breach happens at its due
    ticket_id: str
    data: dict[str, Any]

    @property
    def for_breach_topic(self) -> bool:
        """Whether ops subscribed to the breach topic get this event too."""
        return self.type in BREACH_TOPIC_TYPES
