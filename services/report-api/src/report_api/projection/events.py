"""SLA lifecycle events as the projection reads them (schemas/sla-event.schema.json).

`parse_event` turns one Kafka value into an `SlaEvent` or raises `InvalidEvent`; the runner counts
and skips invalid values so that one bad record never blocks a partition.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sla_core import codec
from sla_core.events import SLA_TYPES

EVENT_TYPES = frozenset(SLA_TYPES)
ENDING_TYPES = frozenset({"sla.fulfilled", "sla.missed", "sla.cancelled"})


class InvalidEvent(ValueError):
    """A value that is not an SLA event; `reason` is a short label for metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SlaEvent:
    """The fields of one SLA event that the reports use; times are aware UTC datetimes."""

    id: str
    key: int  # 64-bit digest of (source, id): the per-timer duplicate check
    type: str
    time: datetime
    timer_id: str
    ticket_id: str
    metric: str
    cycle: int
    level: str
    policy_version: str
    calendar: str
    target_seconds: float
    started_at: datetime
    due_at: datetime | None
    stopped_at: datetime | None
    elapsed_seconds: float
    remaining_seconds: float
    corrects_breach: bool
    breached: bool | None
    paused: bool | None
    ticket_deleted: bool
    emitted_at: datetime | None
    department: str | None
    agent: str | None
    requester: str | None
    priority: str | None
    customer_group: str | None
    source: str | None


def event_key(source: str, event_id: str) -> int:
    """The signed 64-bit digest of a CloudEvent's identity `(source, id)`.

    Stored per timer, it recognises a repeated event; a collision would need two of one timer's
    few events to share 64 bits, which is negligible."""
    digest = hashlib.blake2b(f"{source}\x00{event_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def parse_time(value: object, name: str) -> datetime:
    """An RFC 3339 timestamp with an offset as an aware UTC datetime (sla_core's parser)."""
    try:
        return codec.parse_time(value, name).astimezone(UTC)
    except codec.DecodeError as exc:
        raise InvalidEvent(exc.reason, str(exc)) from exc


def _optional_time(data: dict[str, Any], name: str) -> datetime | None:
    value = data.get(name)
    return None if value is None else parse_time(value, name)


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidEvent("missing_field", f"data.{name} must be a non-empty string")
    return value


def _optional_text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidEvent("wrong_type", f"data.{name} must be a string or null")
    return value


def _number(data: dict[str, Any], name: str) -> float:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent("missing_field", f"data.{name} must be a number")
    return float(value)


def _optional_bool(data: dict[str, Any], name: str) -> bool | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidEvent("wrong_type", f"data.{name} must be a boolean")
    return value


def parse_event(value: bytes | None) -> SlaEvent:
    """Decode a structured-mode CloudEvent (the Kafka value) into an SlaEvent."""
    if value is None:
        raise InvalidEvent("empty", "record has no value")
    try:
        envelope = codec.decode_sla_event(value)
    except codec.DecodeError as exc:
        raise InvalidEvent(exc.reason, str(exc)) from exc
    event_type = envelope.get("type")
    if event_type not in EVENT_TYPES:
        raise InvalidEvent("unknown_type", f"type {event_type!r}")
    event_id, source = envelope.get("id"), envelope.get("source")
    if not isinstance(event_id, str) or not event_id or not isinstance(source, str):
        raise InvalidEvent("missing_field", "id and source must be strings")
    data: dict[str, Any] = envelope["data"]
    cycle = data.get("cycle", 1)
    if isinstance(cycle, bool) or not isinstance(cycle, int):
        raise InvalidEvent("wrong_type", "data.cycle must be an integer")
    return SlaEvent(
        id=event_id,
        key=event_key(source, event_id),
        type=event_type,
        time=parse_time(envelope.get("time"), "time"),
        timer_id=_text(data, "timer_id"),
        ticket_id=_text(data, "ticket_id"),
        metric=_text(data, "metric"),
        cycle=cycle,
        level=_text(data, "level"),
        policy_version=_optional_text(data, "policy_version") or "",
        calendar=_optional_text(data, "calendar") or "24/7",
        target_seconds=_number(data, "target_seconds"),
        started_at=parse_time(data.get("started_at"), "data.started_at"),
        due_at=_optional_time(data, "due_at"),
        stopped_at=_optional_time(data, "stopped_at"),
        elapsed_seconds=_number(data, "elapsed_seconds"),
        remaining_seconds=_number(data, "remaining_seconds"),
        corrects_breach=bool(_optional_bool(data, "corrects_breach")),
        breached=_optional_bool(data, "breached"),
        paused=_optional_bool(data, "paused"),
        ticket_deleted=bool(_optional_bool(data, "ticket_deleted")),
        emitted_at=_optional_time(data, "emitted_at"),
        department=_optional_text(data, "department"),
        agent=_optional_text(data, "agent"),
        requester=_optional_text(data, "requester"),
        priority=_optional_text(data, "priority"),
        customer_group=_optional_text(data, "customer_group"),
        source=_optional_text(data, "source"),
    )
