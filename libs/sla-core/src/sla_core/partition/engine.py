"""One partition's engine: ticket states, the alarm heap and the watermark. No I/O.

`handle(event, wall_clock)` applies one ticket event; `advance(watermark)` fires the warnings and
breaches whose instants the watermark has passed. Both return the SLA events to emit, in order.
Alarms live in a binary heap keyed by instant in epoch microseconds; cancelling is lazy (an
alarm carries the timer's version and a stale one is dropped when it surfaces), so arming,
cancelling and firing cost O(log n) whatever the number of open timers.

A restored ticket stays in its snapshot form (JSON bytes) until it is first needed: an event
for it, or its earliest alarm surfacing in the heap. Its snapshot row carries that alarm's
instant, so one heap entry stands for the ticket until then, and a restart with a million
open timers costs a row each, not the building of every timer (see `restore`).

The engine holds several policy versions at once (`sla_core.policy_history`): each ticket is
bound to one when it is first seen and carries that binding, so its events cost no lookup. A
reload adds a version (`set_policy`); a version loaded with `retarget_open` arms a `RETARGET`
entry at its due instant, where the tickets it moves have their running timers re-targeted.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from sla_core.events import SlaEvent, TicketEvent
from sla_core.instants import to_us
from sla_core.partition import watermark
from sla_core.partition.alarms import FLIP, PACKED, RETARGET, AlarmHeap, Entry
from sla_core.partition.packing import Packing
from sla_core.partition.rows import SnapshotRows, SnapshotTaking, StoredRow
from sla_core.partition.watermark import latest_event_us
from sla_core.policy import Policy
from sla_core.policy_history import PolicyHistory
from sla_core.timers import (
    BREACH,
    DEDUP_WINDOW,
    Step,
    TicketState,
    Timer,
    apply,
    fire,
    forget_at_us,
    reevaluate,
    retarget,
    state_from_dict,
)


@dataclass
class HandleResult:
    outputs: list[SlaEvent]
    clamped: bool = False
    # the event is for a ticket forgotten after its reopen window: applied to nothing, the
    # caller dead-letters it (the outputs are what the watermark's move fired, and stand)
    forgotten: bool = False
    zone_fallbacks: tuple[str, ...] = ()  # Step.zone_fallbacks: calendar names, for the metric


@dataclass
class PartitionEngine(AlarmHeap, SnapshotTaking, Packing):
    """The state of one input partition; it moves between replicas with the partition.

    `policy` is the newest version loaded; `older` the versions loaded before it, oldest first
    (as if reloaded in turn at the start), for an engine built with several versions at once.
    """

    partition: int
    policy: Policy
    future_tolerance: timedelta = timedelta(minutes=5)
    tickets: dict[str, TicketState] = field(default_factory=dict)
    watermark_us: int = 0  # the latest event time consumed here (or wall clock less grace)
    max_event_us: int = 0
    dirty: set[str] = field(default_factory=set)
    open_timers: int = 0
    dedup_window: int = DEDUP_WINDOW  # event identities remembered per ticket
    # forgotten tickets: since the last snapshot written, and those the store knows of that
    # this batch has events for (see `forgotten_known`)
    forgotten_unsaved: set[str] = field(default_factory=set)
    forgotten_known: set[str] = field(default_factory=set)
    _heap: list[Entry] = field(default_factory=list)  # see alarms.Entry
    older: tuple[Policy, ...] = ()
    # the versions held and the tickets' bindings to them (built from policy and older)
    history: PolicyHistory = field(init=False, repr=False)
    _packed: dict[str, bytes] = field(default_factory=dict)  # restored tickets not decoded yet
    _snapshot: SnapshotRows | None = field(default=None, init=False, repr=False)  # being filled
    _counter: int = 0
    _wall: datetime | None = field(default=None, init=False, repr=False)
    # event times past this are clamped: the wall clock of `_wall` plus the tolerance
    _latest_us: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        versions = (*self.older, self.policy)
        self.history = PolicyHistory(versions[0])
        for policy in versions[1:]:
            self.set_policy(policy)

    def advance(self, watermark_us: int) -> list[SlaEvent]:
        """Move the watermark forward and fire every alarm it has passed (a due strictly)."""
        if watermark_us > self.watermark_us:
            self.watermark_us = watermark_us
        outputs: list[SlaEvent] = []
        heap = self._heap
        wm = self.watermark_us
        while heap and heap[0][0] <= wm:
            at_us, ticket_id, _, _, version, kind, timer = heap[0]
            if timer is None:
                heapq.heappop(heap)
                if kind == PACKED:  # a packed ticket's earliest alarm: decode it, arm its timers
                    self._unpack(ticket_id)
                elif kind == FLIP:
                    outputs.extend(self._flip(ticket_id, at_us))
                elif kind == RETARGET:
                    outputs.extend(self._retarget_due(at_us))
                else:
                    self._forget(ticket_id, wm)
                continue
            if kind == BREACH and at_us == wm:
                break  # a timer stopped exactly at its due is fulfilled: wait for more time
            heapq.heappop(heap)
            if version != timer.version:
                continue
            state = self.tickets.get(ticket_id)
            if state is None:
                continue
            if self._snapshot is not None and ticket_id in self._snapshot.waiting:
                self._copy_before_write(ticket_id)
            binding = state.binding
            policy = self.policy if binding is None else binding.policy
            step = fire(state, timer, kind, at_us, policy)
            self.open_timers += step.opened - step.ended
            if step.outputs:
                outputs.extend(step.outputs)
                self.dirty.add(ticket_id)
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
            self._latest_us = latest_event_us(wall_clock, self.future_tolerance)
        event_us = to_us(event.time)
        clamped = event_us > self._latest_us
        if clamped:
            event = watermark.clamped(event, wall_clock)
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
            state = self._unpack(ticket_id) if self._packed else None
            if state is None:
                if ticket_id in self.forgotten_unsaved or ticket_id in self.forgotten_known:
                    return HandleResult(outputs, clamped, forgotten=True)
                # bound to the version in force at its first event, for life (or a re-target)
                state = TicketState(ticket_id, binding=self.history.bind(event_us))
                self.tickets[ticket_id] = state
        elif self._snapshot is not None and ticket_id in self._snapshot.waiting:
            self._copy_before_write(ticket_id)
        flip_us = state.flip_us
        binding = state.binding
        policy = self.policy if binding is None else binding.policy
        step: Step = apply(state, event, policy, event_us, self.dedup_window)
        self.open_timers += step.opened - step.ended
        if step.changed:
            self.dirty.add(ticket_id)
            if state.ended_us is not None:
                self._arm_forget(state, policy.reopen_window_us)
            if state.flip_us != flip_us:
                self._arm_flip(state)
        outputs.extend(step.outputs)
        if step.armed:
            self._arm(step.armed)
        if heap and heap[0][0] <= wm:  # an alarm armed at or before the watermark fires now
            outputs.extend(self.advance(wm))
        return HandleResult(outputs, clamped, zone_fallbacks=step.zone_fallbacks)

    def may_be_forgotten(self, events: Iterable[TicketEvent]) -> set[str]:
        """The tickets of `events` that the store must say whether it forgot: those the engine
        does not hold, except for a `ticket.created` newer than the watermark less the reopen
        window (a forgotten ticket was created before it was closed, a window or more before
        the watermark). A live stream's new tickets are all such: none is looked up."""
        horizon_us = self.watermark_us - self.history.min_reopen_window_us()
        held, packed, unsaved = self.tickets, self._packed, self.forgotten_unsaved
        return {
            e.ticket_id
            for e in events
            if e.ticket_id not in held
            and e.ticket_id not in packed
            and e.ticket_id not in unsaved
            and (e.type != "ticket.created" or to_us(e.time) <= horizon_us)
        }

    def _flip(self, ticket_id: str, at_us: int) -> list[SlaEvent]:
        """A flip entry surfaced: judge the ticket's rules and conditions again at its instant
        (a stale entry, whose instant is no longer the ticket's next flip, does nothing)."""
        state = self.tickets.get(ticket_id)
        if state is None or state.flip_us != at_us:
            return []
        if self._snapshot is not None and ticket_id in self._snapshot.waiting:
            self._copy_before_write(ticket_id)
        step = reevaluate(state, at_us, self._policy_of(state))
        self.open_timers += step.opened - step.ended
        self.dirty.add(ticket_id)
        if step.armed:
            self._arm(step.armed)
        self._arm_flip(state)
        return step.outputs

    def _forget(self, ticket_id: str, watermark_us: int) -> None:
        """A forget entry surfaced: drop the ticket if its reopen window has passed (SPEC 10).

        Its state, row and dedup ids go; the id is remembered until a snapshot has written it
        to the store, which answers for it from then on (`forgotten_known`). An entry gone
        stale (the ticket was reopened, or closed again later) is dropped or armed anew."""
        state = self.tickets.get(ticket_id)
        if state is None:
            return
        window_us = self._policy_of(state).reopen_window_us
        at_us = forget_at_us(state, window_us)
        if at_us is None:
            return
        if at_us > watermark_us:
            self._arm_forget(state, window_us)
            return
        if self._snapshot is not None and ticket_id in self._snapshot.waiting:
            self._copy_before_write(ticket_id)
        del self.tickets[ticket_id]
        self.dirty.discard(ticket_id)
        self.forgotten_unsaved.add(ticket_id)
        binding = state.binding
        if binding is not None:
            binding.tickets -= 1
            if not binding.tickets:  # perhaps the last ticket of its version
                self.history.sweep(watermark_us, counts_known=not self._packed)

    # ---- policy versions ------------------------------------------------------------------

    def _policy_of(self, state: TicketState) -> Policy:
        binding = state.binding
        return self.policy if binding is None else binding.policy

    def set_policy(self, policy: Policy) -> None:
        """A reloaded policy: a new version, added to those held (`sla_core.policy_history`).

        Without `effective_from` every ticket follows it from its next event on, and running
        timers keep their targets (and the version that set them); with it, only tickets first
        seen from that instant on take it. With `retarget_open`, at the later of that instant
        and the watermark now, the tickets of older versions move to it and their running
        timers re-target under it from their original start (`sla.retargeted`)."""
        self.policy = policy
        due_us = self.history.add(policy, self.watermark_us)
        if due_us is not None:
            self._arm_retarget(due_us)

    def _arm_retarget(self, due_us: int) -> None:
        heapq.heappush(self._heap, (due_us, "", "~", 0, 0, RETARGET, None))

    def _retarget_due(self, at_us: int) -> list[SlaEvent]:
        """A RETARGET entry surfaced: each version due moves the older versions' tickets onto
        it, and their running timers re-target under it at `at_us`, in ticket order."""
        due = self.history.due(at_us)
        if not due:
            return []
        self.unpack_all()  # decoded under the versions their rows were written under
        outputs: list[SlaEvent] = []
        tickets = self.tickets
        for policy in due:
            moved = {b.key for b in self.history.supersede(policy)}
            for ticket_id in sorted(tickets):
                state = tickets[ticket_id]
                if state.binding is None or state.binding.key not in moved:
                    continue
                if self._snapshot is not None and ticket_id in self._snapshot.waiting:
                    self._copy_before_write(ticket_id)
                step = retarget(state, at_us, policy)
                if not step.changed:
                    continue
                self.open_timers += step.opened - step.ended
                self.dirty.add(ticket_id)
                if step.armed:
                    self._arm(step.armed)
                self._arm_flip(state)
                outputs.extend(step.outputs)
        self.history.sweep(self.watermark_us)
        return outputs

    @property
    def held_versions(self) -> dict[str, Policy]:
        """The policy versions this partition holds, by version."""
        return self.history.held()

    def meta(self) -> dict[str, Any]:
        self.history.sweep(self.watermark_us, counts_known=not self._packed)
        return {
            "watermark_us": self.watermark_us,
            "max_event_us": self.max_event_us,
            **self.history.to_meta(),
        }

    @classmethod
    def restore(
        cls,
        partition: int,
        policy: Policy,
        meta: dict[str, Any],
        rows: Iterable[StoredRow],
        future_tolerance: timedelta = timedelta(minutes=5),
        dedup_window: int = DEDUP_WINDOW,
    ) -> PartitionEngine:
        """Rebuild a partition's engine from its snapshot rows: (ticket, state, earliest alarm,
        running timers).

        The policy versions come back from the snapshot's meta (`PolicyHistory.from_meta`), with
        `policy`, the file's now, as the newest: when it is another version than the snapshot's
        newest it is added as a reload would. Each row comes back bound as it was.

        A row whose running count is known stays packed until first needed (module docstring);
        its timers get the calendars of its version in force, as an eager restore's would. A
        row written before rows carried their alarm is decoded now, and so is every row when
        the snapshot was taken under another policy, whose calendars may have put the alarms
        elsewhere.
        Either way the alarms fire at the same instants in the same order. (One corner stays:
        a row written before a policy reload that changed a calendar, untouched until the next
        restart, keeps the alarm instant of the old calendar: a warning that the new calendar
        puts earlier waits for that instant. Dues are stored, so breaches keep theirs.)
        """
        engine = cls(partition, policy, future_tolerance, dedup_window=dedup_window)
        engine.watermark_us = int(meta.get("watermark_us", 0))
        engine.max_event_us = int(meta.get("max_event_us", 0))
        history, reloaded = PolicyHistory.from_meta(meta, policy)
        engine.history = history
        lazy = not reloaded
        packed = engine._packed
        heap = engine._heap
        armed: list[Timer] = []
        open_timers = 0
        for ticket_id, raw, alarm_us, running in rows:
            if lazy and running is not None:
                packed[ticket_id] = raw
                open_timers += running
                if alarm_us is not None:
                    heap.append((alarm_us, ticket_id, "", 0, 0, PACKED, None))
                continue
            decoded = orjson.loads(raw)
            binding = history.restored(decoded.get("v"))
            state = state_from_dict(ticket_id, decoded, binding.policy, binding)
            engine.tickets[ticket_id] = state
            armed.extend(state.running.values())
            engine._arm_flip(state)
            if state.ended_us is not None:
                engine._arm_forget(state, binding.policy.reopen_window_us)
        engine.open_timers = open_timers + len(armed)
        heap.extend(engine._entries(armed))
        heap.extend((due_us, "", "~", 0, 0, RETARGET, None) for due_us, _ in history.pending)
        heapq.heapify(heap)  # O(n), where n pushes cost O(n log n)
        if reloaded:
            engine.set_policy(policy)
        return engine
