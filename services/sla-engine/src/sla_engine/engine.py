"""One partition's engine: ticket states, the alarm heap and the watermark. No I/O.

`handle(event, wall_clock)` applies one ticket event; `advance(watermark)` fires the warnings and
breaches whose instants the watermark has passed. Both return the SLA events to emit, in order.
Alarms live in a binary heap keyed by instant in epoch microseconds; cancelling is lazy (an
alarm carries the timer's version and a stale one is dropped when it surfaces), so arming,
cancelling and firing cost O(log n) whatever the number of open timers.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sla_core.events import SlaEvent, TicketEvent
from sla_core.instants import to_us
from sla_core.policy import Policy
from sla_core.timers import (
    BREACH,
    Step,
    TicketState,
    Timer,
    apply,
    fire,
    state_from_dict,
    state_to_dict,
)

_ONE_US = timedelta(microseconds=1)


@dataclass
class HandleResult:
    outputs: list[SlaEvent]
    clamped: bool = False


@dataclass
class PartitionEngine:
    """The state of one input partition; it moves between replicas with the partition."""

    partition: int
    policy: Policy
    future_tolerance: timedelta = timedelta(minutes=5)
    tickets: dict[str, TicketState] = field(default_factory=dict)
    watermark_us: int = 0  # the latest event time consumed here (or wall clock less grace)
    max_event_us: int = 0
    dirty: set[str] = field(default_factory=set)
    open_timers: int = 0
    # (instant, ticket, metric, arm counter, timer version, kind, timer): ties at one instant
    # break by ticket and metric, so a restored heap fires in the same order as the original
    _heap: list[tuple[int, str, str, int, int, str, Timer]] = field(default_factory=list)
    _counter: int = 0
    _wall: datetime | None = field(default=None, init=False, repr=False)
    # event times past this are clamped: the wall clock of `_wall` plus the tolerance
    _latest_us: int = field(default=0, init=False, repr=False)

    # ---- alarms ---------------------------------------------------------------------------

    def _entries(self, timers: list[Timer]) -> list[tuple[int, str, str, int, int, str, Timer]]:
        """The heap entries of each timer's next alarm (one per timer; firing arms the next)."""
        entries = []
        for timer in timers:
            alarm = timer.next_alarm()
            if alarm is not None:
                at_us, kind = alarm
                self._counter += 1
                entries.append(
                    (
                        at_us,
                        timer.ticket_id,
                        timer.metric,
                        self._counter,
                        timer.version,
                        kind,
                        timer,
                    )
                )
        return entries

    def _arm(self, timers: list[Timer]) -> None:
        for entry in self._entries(timers):
            heapq.heappush(self._heap, entry)

    @property
    def open_alarms(self) -> int:
        """Alarms in the heap, stale ones included (they leave when they surface)."""
        return len(self._heap)

    def next_alarm_us(self) -> int | None:
        """The instant of the earliest armed alarm, stale or not (for the scheduler's sleep)."""
        return self._heap[0][0] if self._heap else None

    def advance(self, watermark_us: int) -> list[SlaEvent]:
        """Move the watermark forward and fire every alarm it has passed (a due strictly)."""
        if watermark_us > self.watermark_us:
            self.watermark_us = watermark_us
        outputs: list[SlaEvent] = []
        heap = self._heap
        wm = self.watermark_us
        while heap and heap[0][0] <= wm:
            at_us, _, _, _, version, kind, timer = heap[0]
            if kind == BREACH and at_us == wm:
                break  # a timer stopped exactly at its due is fulfilled: wait for more time
            heapq.heappop(heap)
            if version != timer.version:
                continue
            state = self.tickets.get(timer.ticket_id)
            if state is None:
                continue
            step = fire(state, timer, kind, at_us, self.policy)
            self.open_timers += step.opened - step.ended
            if step.outputs:
                outputs.extend(step.outputs)
                self.dirty.add(state.ticket_id)
                if timer.version == version:
                    self._arm([timer])
        return outputs

    # ---- events ---------------------------------------------------------------------------

    def handle(self, event: TicketEvent, wall_clock: datetime) -> HandleResult:
        """Apply one event: advance the watermark to its time, apply it, fire what fell due.

        An event time further ahead of the wall clock than the tolerance (a producer with a
        wrong clock) is clamped to the wall clock, so it cannot drag the watermark into the
        future; the result says so, for the metrics.
        """
        if wall_clock is not self._wall:  # one wall clock per fetched batch: convert it once
            self._wall = wall_clock
            self._latest_us = to_us(wall_clock) + self.future_tolerance // _ONE_US
        event_us = to_us(event.time)
        clamped = event_us > self._latest_us
        if clamped:
            event = TicketEvent(
                event.id,
                event.source,
                event.type,
                wall_clock,
                event.ticket_id,
                event.ticket,
                event.channel,
                event.automated,
            )
            event_us = to_us(wall_clock)
        if event_us > self.max_event_us:
            self.max_event_us = event_us
        if event_us > self.watermark_us:
            self.watermark_us = event_us
        wm, heap = self.watermark_us, self._heap
        outputs = self.advance(wm) if heap and heap[0][0] <= wm else []
        ticket_id = event.ticket_id
        state = self.tickets.get(ticket_id)
        if state is None:
            state = self.tickets[ticket_id] = TicketState(ticket_id)
        step: Step = apply(state, event, self.policy, event_us)
        self.open_timers += step.opened - step.ended
        if step.changed:
            self.dirty.add(ticket_id)
        outputs.extend(step.outputs)
        if step.armed:
            self._arm(step.armed)
            if heap and heap[0][0] <= wm:  # an alarm armed at or before the watermark fires now
                outputs.extend(self.advance(wm))
        return HandleResult(outputs, clamped)

    def set_policy(self, policy: Policy) -> None:
        """A reloaded policy applies from the next event on; running timers keep their level."""
        self.policy = policy

    # ---- snapshots -------------------------------------------------------------------------

    def take_dirty(self) -> dict[str, dict[str, Any] | None]:
        """The changed tickets since the last call, as snapshot rows."""
        rows = {tid: state_to_dict(self.tickets[tid]) for tid in self.dirty if tid in self.tickets}
        self.dirty.clear()
        return dict(rows)

    def meta(self) -> dict[str, Any]:
        return {"watermark_us": self.watermark_us, "max_event_us": self.max_event_us}

    @classmethod
    def restore(
        cls,
        partition: int,
        policy: Policy,
        meta: dict[str, Any],
        rows: list[tuple[str, dict[str, Any]]],
        future_tolerance: timedelta = timedelta(minutes=5),
    ) -> PartitionEngine:
        """Rebuild a partition's engine from its snapshot rows and re-arm every alarm."""
        engine = cls(partition, policy, future_tolerance)
        engine.watermark_us = int(meta.get("watermark_us", 0))
        engine.max_event_us = int(meta.get("max_event_us", 0))
        armed: list[Timer] = []
        for ticket_id, raw in rows:
            state = state_from_dict(ticket_id, raw, policy)
            engine.tickets[ticket_id] = state
            armed.extend(state.running.values())
        engine.open_timers = len(armed)
        engine._heap = engine._entries(armed)
        heapq.heapify(engine._heap)  # O(n), where n pushes cost O(n log n)
        return engine
