"""Record intake: from a fetched Kafka record to an applied ticket event, or a dead letter.

`take_records` is the loop's step 2 for one partition: decode each record, dead-letter what
cannot be applied (not a ticket event, absurdly far in the future, or refused by the domain),
skip unknown types, apply the rest to the partition's engine and collect the SLA events. It
does no I/O: the dead letters and the SLA events go into an `Outbox` for the producer.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sla_core.codec import DecodeError, decode_ticket_event
from sla_core.events import TICKET_TYPES, SlaEvent, TicketEvent
from sla_core.partition.engine import PartitionEngine

log = logging.getLogger("sla_engine")


@dataclass
class OwnedPartition:
    """One input partition this replica owns: its engine and where we are in it."""

    engine: PartitionEngine
    next_offset: int
    suppress_until: int  # outputs of records below this offset were emitted before a restart
    end_offset: int = 0  # the partition's end when assigned (until a fetch tells better)


@dataclass
class DeadLetter:
    record: Any  # the Kafka record, forwarded unchanged
    error: DecodeError
    topic: str


@dataclass
class Outbox:
    """What one batch produces: SLA events and dead letters, in order."""

    events: list[SlaEvent] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


@dataclass
class Intake:
    """What `take_records` counted, for the metrics."""

    consumed: Counter[str] = field(default_factory=Counter)  # applied events by type
    unknown_types: int = 0
    clamped: int = 0
    zone_fallbacks: Counter[str] = field(default_factory=Counter)  # timers by calendar


def admit(
    value: bytes | None, headers: Any, reject_after: datetime, future_reject: timedelta
) -> TicketEvent:
    """Decode a record; DecodeError for a bad one, or one whose time lies past `reject_after`,
    `future_reject` ahead of the wall clock (a broken clock)."""
    event = decode_ticket_event(value, headers)
    if event.time > reject_after:
        raise DecodeError(
            "future_time",
            f"time {event.time.isoformat()} is more than "
            f"{future_reject.total_seconds():g}s ahead of the wall clock",
        )
    return event


Admitted = list[tuple[Any, TicketEvent]]  # (record, decoded event), in offset order


def admit_records(
    topic: str,
    part: OwnedPartition,
    records: list[Any],
    wall: datetime,
    future_reject: timedelta,
    outbox: Outbox,
    intake: Intake,
) -> Admitted:
    """Decode a partition's fetched records in offset order (records below `next_offset` were
    taken already): bad ones go to the outbox as dead letters, unknown types are counted."""
    admitted: Admitted = []
    reject_after = wall + future_reject
    dead = outbox.dead
    for record in records:
        offset: int = record.offset
        if offset < part.next_offset:
            continue
        part.next_offset = offset + 1
        try:
            event = admit(record.value, record.headers, reject_after, future_reject)
        except DecodeError as exc:
            dead.append(DeadLetter(record, exc, topic))
            continue
        if event.type not in TICKET_TYPES:
            intake.unknown_types += 1
            continue
        admitted.append((record, event))
    return admitted


def apply_admitted(
    topic: str,
    part: OwnedPartition,
    admitted: Admitted,
    wall: datetime,
    outbox: Outbox,
    intake: Intake,
) -> None:
    """Apply admitted events to the partition's engine; outputs of records below
    `suppress_until` are dropped, since a previous run emitted them. An event the domain cannot
    apply, or one for a forgotten ticket, becomes a dead letter."""
    consumed = intake.consumed
    handle, outputs, dead = part.engine.handle, outbox.events, outbox.dead
    suppress_until = part.suppress_until
    for record, event in admitted:
        try:
            result = handle(event, wall)
        except Exception as exc:
            # a record the domain cannot apply must not stop the partition for good (the
            # same record would crash every restart): park it with its reason
            log.exception("ticket event could not be applied")
            error = DecodeError("unprocessable", f"{type(exc).__name__}: {exc}")
            dead.append(DeadLetter(record, error, topic))
            continue
        if result.forgotten:
            dead.append(DeadLetter(record, forgotten_error(event), topic))
        else:
            consumed[event.type] += 1
        if result.clamped:
            intake.clamped += 1
        if result.zone_fallbacks:
            intake.zone_fallbacks.update(result.zone_fallbacks)
        if record.offset >= suppress_until:
            outputs.extend(result.outputs)


def forgotten_error(event: TicketEvent) -> DecodeError:
    return DecodeError(
        "forgotten",
        f"ticket {event.ticket_id!r} was forgotten after its reopen window (policy."
        "reopen_window); its timers ended, and a new event cannot restart them under ids "
        "already used",
    )


def take_records(
    topic: str,
    part: OwnedPartition,
    records: list[Any],
    wall: datetime,
    future_reject: timedelta,
    outbox: Outbox,
) -> Intake:
    """Admit and apply a partition's records at once, for a caller that knows no forgotten
    tickets beyond the engine's own (the loop looks them up in between: `EngineService`)."""
    intake = Intake()
    admitted = admit_records(topic, part, records, wall, future_reject, outbox, intake)
    apply_admitted(topic, part, admitted, wall, outbox, intake)
    return intake
