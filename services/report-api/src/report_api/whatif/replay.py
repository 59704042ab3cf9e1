"""The replay of archived ticket events under a candidate policy: the engine's own domain code,
and the projection's own fold. No I/O.

Records are fed in the order the live engine consumed them (partition by partition, in offset
order), each partition through its own `PartitionEngine`, as the engine runs one per input
partition: so the watermark moves as it moved live and late events are late in the same way.
The SLA events that come out are folded into timer rows by the projection's `fold_batch`, the
very function that builds `sla_timers`, so a verdict means here what it means in the reports.
`finish` moves every watermark to where a caught-up engine's is (the wall clock less the grace),
so that the timers past due breach as they have live.

What differs from the live path, on purpose: nothing is emitted, snapshotted or dead-lettered;
an event that the live engine dead-lettered as unprocessable is skipped here too, but one it
dead-lettered for being too far in the future is applied (the archive keeps it and its time is
no longer in the future).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from report_api.projection.handlers import TimerRow, fold_batch
from sla_core.codec import DecodeError, decode_ticket_event
from sla_core.events import SlaEvent
from sla_core.instants import to_us
from sla_core.partition.engine import PartitionEngine
from sla_core.partition.watermark import live_watermark_us
from sla_core.policy import Policy

# The engine's default grace (SLA_GRACE_SECONDS): a caught-up watermark is the wall clock less it.
GRACE_US = 2_000_000

# One archived record as the replay needs it: partition, value, header keys, header values.
Record = tuple[int, bytes, Sequence[str], Sequence[bytes]]


@dataclass
class Replay:
    """The engines of a replay, one per partition, and the timer rows folded so far."""

    policy: Policy
    wall_clock: datetime  # no archived event is later than this: nothing is clamped
    # earlier versions, oldest first: a ticket is bound to the version in force when it was
    # first seen, as the engine binds it (sla_core.policy_history)
    older: tuple[Policy, ...] = ()
    engines: dict[int, PartitionEngine] = field(default_factory=dict)
    rows: dict[str, TimerRow] = field(default_factory=dict)
    timers_of: dict[str, set[str]] = field(default_factory=dict)  # ticket -> its timer ids
    deleted: set[str] = field(default_factory=set)  # tickets deleted: their timers leave
    events_done: int = 0
    skipped: int = 0  # records that do not decode, or that the domain cannot apply

    def feed(self, records: Iterable[Record]) -> None:
        """Apply `records` (in the live engine's order) and fold the SLA events they give."""
        outputs: list[SlaEvent] = []
        wall = self.wall_clock
        engines = self.engines
        for partition, value, keys, values in records:
            self.events_done += 1
            try:
                event = decode_ticket_event(value, list(zip(keys, values, strict=True)))
            except DecodeError:
                self.skipped += 1
                continue
            engine = engines.get(partition)
            if engine is None:
                engine = engines[partition] = PartitionEngine(
                    partition, self.policy, older=self.older
                )
            try:
                result = engine.handle(event, wall)
            except Exception:  # the live engine dead-letters it as unprocessable
                self.skipped += 1
                continue
            outputs.extend(result.outputs)  # a forgotten ticket's outputs stand (see handle)
        for engine in engines.values():
            engine.dirty.clear()  # a snapshot's worklist: a replay takes none
        self._fold(outputs)

    def finish(self, now: datetime, grace_us: int = GRACE_US) -> dict[str, TimerRow]:
        """Move each partition's watermark to a caught-up engine's at `now`, fold what fires,
        and return the candidate timer rows by timer id."""
        now_us = to_us(now)
        for engine in self.engines.values():
            self._fold(engine.advance(live_watermark_us(engine.max_event_us, now_us, grace_us)))
        return self.rows

    def _fold(self, events: list[SlaEvent]) -> None:
        """`fold_batch` over the rows these events touch, as the projection calls it."""
        if not events:
            return
        rows, timers_of = self.rows, self.timers_of
        touched = {e.data.timer_id for e in events}
        tickets = {e.data.ticket_id for e in events}
        stored = {t: rows[t] for t in touched if t in rows}
        for event in events:
            if event.type == "sla.cancelled" and event.data.ticket_deleted:
                for timer_id in timers_of.get(event.data.ticket_id, ()):
                    stored[timer_id] = rows[timer_id]
        result = fold_batch(events, stored, self.deleted & tickets)
        for timer_id, row in result.after.items():
            if row is None:
                old = rows.pop(timer_id, None)
                if old is not None:
                    timers_of.get(old.ticket_id, set()).discard(timer_id)
            else:
                rows[timer_id] = row
                timers_of.setdefault(row.ticket_id, set()).add(timer_id)
        self.deleted.update(result.deleted_tickets)
