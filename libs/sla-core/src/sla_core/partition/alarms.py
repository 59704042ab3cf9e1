"""The alarm heap of one partition: every instant at which the watermark must wake a ticket.

A binary heap keyed by instant in epoch microseconds. Cancelling is lazy: an entry carries its
timer's version, and a stale one is dropped when it surfaces, so arming, cancelling and firing
cost O(log n) whatever the number of open timers. Besides timers' warnings and dues, an entry
may stand for a restored ticket not decoded yet (`PACKED`), for the instant a closed ticket
may be forgotten (`FORGET`), for the instant its rules and conditions must be judged again
because time alone changes their answer (`FLIP`), or for the instant a policy version loaded
with retarget_open comes into force (`RETARGET`, for the whole partition: its ticket is "");
none of these carries a timer.
"""

from __future__ import annotations

import heapq

from sla_core.timers import TicketState, Timer, forget_at_us

PACKED = "~packed"  # a restored ticket not decoded yet, at its earliest alarm
FORGET = "~forget"  # a closed or deleted ticket whose reopen window ends here
FLIP = "~flip"  # time alone changes a rule's or condition's answer for the ticket here
RETARGET = "~retarget"  # a policy version with retarget_open comes into force here (no ticket)

# (instant, ticket, metric, arm counter, timer version, kind, timer). Ties at one instant break
# by ticket and metric, so a restored heap fires in the same order as the original. A packed
# ticket's entry has the empty metric, which puts it before the entries its timers get when it
# is decoded; a forget entry's "~" puts it after them.
Entry = tuple[int, str, str, int, int, str, Timer | None]


class AlarmHeap:
    """The heap of `PartitionEngine` (its `_heap`), with the arming side of it."""

    _heap: list[Entry]
    _counter: int

    def _entries(self, timers: list[Timer]) -> list[Entry]:
        """The heap entries of each timer's next alarm (one per timer; firing arms the next)."""
        entries: list[Entry] = []
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

    def _arm_forget(self, state: TicketState, reopen_window_us: int) -> None:
        """Arm the instant the ticket may be forgotten, if it is closed or deleted and idle (a
        stale entry is checked again when it surfaces)."""
        at_us = forget_at_us(state, reopen_window_us)
        if at_us is not None:
            heapq.heappush(self._heap, (at_us, state.ticket_id, "~", 0, 0, FORGET, None))

    def _arm_flip(self, state: TicketState) -> None:
        """Arm the ticket's next flip instant, if any (a stale entry is dropped when it
        surfaces: the state's `flip_us` names the current one)."""
        if state.flip_us is not None:
            heapq.heappush(self._heap, (state.flip_us, state.ticket_id, "~", 0, 0, FLIP, None))

    def _arm_ticket(self, state: TicketState, reopen_window_us: int) -> None:
        """Arm everything of a ticket just decoded: its timers, its flip, its forgetting."""
        self._arm(list(state.running.values()))
        self._arm_flip(state)
        if state.ended_us is not None:
            self._arm_forget(state, reopen_window_us)

    @property
    def open_alarms(self) -> int:
        """Alarms in the heap, stale ones included (they leave when they surface)."""
        return len(self._heap)

    def next_alarm_us(self) -> int | None:
        """The instant of the earliest armed alarm, stale or not (for the loop's sleep)."""
        return self._heap[0][0] if self._heap else None
