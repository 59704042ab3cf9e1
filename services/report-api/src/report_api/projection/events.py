"""SLA lifecycle events as the projection reads them: sla_core's `SlaEvent`, decoded and
validated by sla_core's codec (the type is the contract, schemas/sla-event.schema.json its
generated description).

`parse_event` turns one Kafka value into an `SlaEvent` or raises `InvalidEvent`; the runner counts
and skips invalid values so that one bad record never blocks a partition.
"""

from __future__ import annotations

import hashlib

from msgspec import UNSET

from sla_core import codec
from sla_core.events import SLA_TYPES, SlaEvent

EVENT_TYPES = frozenset(SLA_TYPES)
ENDING_TYPES = frozenset({"sla.fulfilled", "sla.missed", "sla.cancelled"})


class InvalidEvent(ValueError):
    """A value that is not an SLA event; `reason` is a short label for metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def event_key(event: SlaEvent) -> int:
    """The signed 64-bit digest of a CloudEvent's identity `(source, id)`.

    Stored per timer, it recognises a repeated event; a collision would need two of one timer's
    few events to share 64 bits, which is negligible."""
    digest = hashlib.blake2b(f"{event.source}\x00{event.id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def parse_event(value: bytes | None) -> SlaEvent:
    """Decode a structured-mode CloudEvent (the Kafka value) into an SlaEvent."""
    if value is None:
        raise InvalidEvent("empty", "record has no value")
    try:
        event = codec.decode_sla_event(value)
    except codec.DecodeError as exc:
        raise InvalidEvent(exc.reason, str(exc)) from exc
    if event.source is UNSET:  # the engine stamps it on every event it sends
        raise InvalidEvent("missing_field", "SLA event: Object missing required field `source`")
    return event
