"""Ticket events in, SLA lifecycle events out: the domain's two vocabularies (SPEC 2 and 5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Final, Literal, get_args

import msgspec
from msgspec import UNSET, Meta, UnsetType

from sla_core.zones import ZoneSource

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

SlaType = Literal[
    "sla.started",
    "sla.warning",
    "sla.breached",
    "sla.fulfilled",
    "sla.missed",
    "sla.cancelled",
    "sla.retargeted",
    "sla.paused",
    "sla.resumed",
]
SLA_TYPES: Final[tuple[SlaType, ...]] = get_args(SlaType)
Metric = Literal[
    "first_answer", "next_answer", "chat_answer", "call_answer", "resolution", "periodic_update"
]
METRICS: Final[tuple[Metric, ...]] = get_args(Metric)
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
    "team",
    "customer_timezone",
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
    "team",
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


# The SLA event (SPEC 5) as one type: the engine builds it, `codec.encode_sla_event` writes it,
# `codec.decode_sla_event` reads and validates it, schemas/sla-event.schema.json is generated
# from it. Field order is the JSON key order on the wire. Metadata in Annotated (descriptions,
# bounds) costs nothing when the engine builds an event: msgspec checks it only when decoding.
# gc=False: an event holds no reference cycles, so the collector need not track millions of them.
_Text = Annotated[str, Meta(min_length=1)]
_Time = Annotated[datetime, Meta(tz=True)]
_Seconds = Annotated[float, Meta(ge=0)]


class OwnershipSegment(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """Who held the ticket for part of a timer (SPEC section 11): from one change of `agent` or
    `team` to the next, in business seconds under the timer's calendar, pauses left out."""

    agent: str | None
    team: str | None
    started_at: _Time
    ended_at: _Time
    business_seconds: _Seconds


class SlaEventData(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """The `data` of an SLA event: the timer's full description as of the event, and the ticket's
    reported attributes. Fields with defaults may be absent from events of older engines."""

    timer_id: Annotated[str, Meta(min_length=1, description="<ticket>:<metric>:<cycle>")]
    ticket_id: _Text
    metric: Metric
    cycle: Annotated[int, Meta(ge=1)] = 1
    level: _Text
    policy_version: Annotated[
        str,
        Meta(
            description="The policy version (content hash) that set this timer's target, at its "
            "start or its last re-target; a reload that does not re-target the timer leaves it."
        ),
    ] = ""
    calendar: Annotated[str, Meta(description="Calendar name; 24/7 when the level has none.")] = (
        "24/7"
    )
    # None (absent): an event of an engine from before zones came from tickets
    timezone: Annotated[
        str | None,
        Meta(
            description="The IANA zone the calendar's hours are read in for this timer, chosen "
            "when it started."
        ),
    ] = None
    timezone_source: Annotated[
        ZoneSource | None,
        Meta(
            description="Why that zone: calendar (the calendar's zone is fixed), ticket (the "
            "ticket's attribute named it) or default (the attribute was missing or not a "
            "usable zone)."
        ),
    ] = None
    target_seconds: _Seconds
    started_at: _Time
    due_at: Annotated[_Time | None, Meta(description="Null while paused.")]
    stopped_at: Annotated[_Time | None, Meta(description="When the timer ended, on endings.")]
    elapsed_seconds: Annotated[
        float, Meta(description="Business seconds, pauses left out, as of the event time.")
    ]
    remaining_seconds: Annotated[
        float, Meta(description="Business seconds to due; negative once over.")
    ]
    threshold: Annotated[
        str | None,
        Meta(
            description="On sla.warning: the warning that fired, as written in the policy "
            "(75%, 30m)."
        ),
    ] = None
    corrects_breach: Annotated[
        bool,
        Meta(description="On sla.fulfilled: a late event proved a breached timer was met in time."),
    ] = False
    # UNSET (absent): an event of an engine that did not say; consumers keep what they knew
    breached: Annotated[
        bool | UnsetType, Meta(description="Whether the timer has breached (as of this event).")
    ] = UNSET
    paused: Annotated[bool | UnsetType, Meta(description="Whether the timer is paused.")] = UNSET
    reason: Annotated[
        str | None,
        Meta(
            description="On sla.cancelled, why: reset, cancel_condition, closed, deleted or "
            "level_change; on sla.retargeted: the previous level."
        ),
    ] = None
    ticket_deleted: Annotated[
        bool,
        Meta(
            description="On sla.cancelled: the ticket was deleted, so all of its timers leave "
            "the reports."
        ),
    ] = False
    # Ownership (SPEC section 11), UNSET (absent) on the events that do not carry it
    segments: Annotated[
        list[OwnershipSegment] | UnsetType,
        Meta(
            description="On sla.breached (to the due) and on the ending events (to the stop): "
            "the timer's ownership segments in order; their seconds add up to elapsed_seconds."
        ),
    ] = UNSET
    breach_agent: Annotated[
        str | UnsetType | None,
        Meta(
            description="On sla.breached and sla.missed: the agent who held the ticket at the due."
        ),
    ] = UNSET
    breach_team: Annotated[
        str | UnsetType | None,
        Meta(description="On sla.breached and sla.missed: the team that held it at the due."),
    ] = UNSET
    # REPORTED_ATTRIBUTES, in that order
    department: str | None = None
    agent: str | None = None
    requester: str | None = None
    priority: str | None = None
    customer_group: str | None = None
    source: Annotated[
        str | None, Meta(description="The ticket's source (email, chat, call, ...).")
    ] = None
    tags: Annotated[list[str] | None, Meta(description="Null when the ticket's tags are null.")] = (
        msgspec.field(default_factory=list)
    )
    team: Annotated[str | None, Meta(description="The agent group that owns the ticket.")] = None
    # last: the wall clock, stamped at the edge when the event is sent (codec.encode_sla_event);
    # UNSET until then
    emitted_at: Annotated[_Time | UnsetType, Meta(description="Wall clock at emission.")] = UNSET


class SlaEvent(
    msgspec.Struct, kw_only=True, frozen=True, gc=False, rename={"ticket_id": "subject"}
):
    """One SLA lifecycle event: a CloudEvent 1.0 (structured mode) whose subject is the ticket id.

    The engine builds it without `source` and `data.emitted_at`; `codec.encode_sla_event` stamps
    both, when the event is sent."""

    specversion: Literal["1.0"] = "1.0"
    id: Annotated[
        str,
        Meta(
            min_length=1,
            description="Deterministic: the same input log gives the same ids "
            "(<timer_id>/<n>:<type>).",
        ),
    ]
    source: Annotated[str | UnsetType, Meta(description="Names the engine.")] = UNSET
    type: SlaType
    time: Annotated[
        _Time, Meta(description="When it happened in event time; a breach happens at its due.")
    ]
    ticket_id: Annotated[str, Meta(min_length=1, description="The ticket id.")]  # `subject`
    datacontenttype: Literal["application/json"] = "application/json"
    data: SlaEventData

    @property
    def for_breach_topic(self) -> bool:
        """Whether ops subscribed to the breach topic get this event too."""
        return self.type in BREACH_TOPIC_TYPES
