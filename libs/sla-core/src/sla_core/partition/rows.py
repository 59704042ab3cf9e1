"""A partition's snapshot in row form: what the engine hands the snapshot store, and takes back.

A ticket's row keeps its state as JSON bytes, with the instant of its earliest alarm and its
count of running timers beside it, so a restore can leave the state undecoded until needed.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from sla_core.policy import Policy
from sla_core.timers import TicketState, forget_at_us, state_to_dict

# a stored row as a restore reads it: ticket, state (JSON), earliest alarm, running timers;
# alarm and running are None in rows written before rows carried them
StoredRow = tuple[str, bytes, int | None, int | None]

_dumps = orjson.dumps


class TicketRow(NamedTuple):
    """A ticket's snapshot row: its state, and what a restore needs without decoding it.

    The state is JSON bytes, encoded when the row is built: a state's dicts and lists change
    in place as events come, and a row must not follow them."""

    state: bytes
    alarm_us: int | None  # the earliest alarm of its running timers, if any
    running: int  # its running timers


def ticket_row(state: TicketState, reopen_window_us: int) -> TicketRow:
    """The snapshot row of a ticket as it is now; its alarm is the earliest of its timers'
    alarms, its next flip and the instant it may be forgotten (after the reopen window of its
    policy version, else `reopen_window_us`)."""
    if state.binding is not None:
        reopen_window_us = state.binding.policy.reopen_window_us
    running = state.running
    alarms = [a[0] for t in running.values() if (a := t.next_alarm()) is not None]
    forget_us = forget_at_us(state, reopen_window_us)
    if forget_us is not None:
        alarms.append(forget_us)
    if state.flip_us is not None:
        alarms.append(state.flip_us)
    return TicketRow(_dumps(state_to_dict(state)), min(alarms, default=None), len(running))


class SnapshotRows:
    """One snapshot's rows as of the moment `PartitionEngine.begin_snapshot` took it.

    Taking it costs nothing: a ticket's row is built when the snapshot is filled (in chunks,
    while the loop goes on) or just before that ticket changes next, whichever comes first
    (copy on write). So a snapshot of many changed tickets never stalls the loop, and its
    rows are still exactly the states at its offsets.
    """

    __slots__ = ("forgotten", "meta", "rows", "waiting")

    def __init__(
        self, meta: dict[str, Any], waiting: set[str], forgotten: frozenset[str] = frozenset()
    ) -> None:
        self.meta = meta
        self.waiting = waiting  # tickets whose rows are not built yet
        self.rows: dict[str, TicketRow] = {}
        self.forgotten = forgotten  # tickets forgotten since the last snapshot: rows to delete

    def ticket_ids(self) -> set[str]:
        return self.waiting | self.rows.keys()


class SnapshotError(ValueError):
    """A ticket's snapshot row cannot be decoded."""


class SnapshotTaking:
    """The snapshot side of `PartitionEngine`: which tickets changed, and their rows taken
    copy-on-write (see SnapshotRows)."""

    policy: Policy
    tickets: dict[str, TicketState]
    dirty: set[str]
    forgotten_unsaved: set[str]
    _snapshot: SnapshotRows | None

    def meta(self) -> dict[str, Any]:
        raise NotImplementedError

    def begin_snapshot(self) -> SnapshotRows:
        """A snapshot of the tickets changed since the last one, as they are now; its rows are
        built by `fill_snapshot` (see SnapshotRows). One at a time: a snapshot still being
        filled is finished first."""
        if self._snapshot is not None:
            self.fill_snapshot(len(self._snapshot.waiting))
        waiting, self.dirty = self.dirty, set()
        forgotten = frozenset(self.forgotten_unsaved)
        snapshot = self._snapshot = SnapshotRows(self.meta(), waiting, forgotten)
        return snapshot

    def snapshot_saved(self, snapshot: SnapshotRows) -> None:
        """The snapshot is written: the store answers for the tickets it forgot from now on."""
        self.forgotten_unsaved -= snapshot.forgotten

    def fill_snapshot(self, limit: int) -> bool:
        """Build up to `limit` rows of the snapshot being filled; True once it is complete."""
        snapshot = self._snapshot
        if snapshot is None:
            return True
        waiting, rows, tickets, row = snapshot.waiting, snapshot.rows, self.tickets, ticket_row
        window = self.policy.reopen_window_us
        for _ in range(min(limit, len(waiting))):
            ticket_id = waiting.pop()
            state = tickets.get(ticket_id)
            if state is not None:
                rows[ticket_id] = row(state, window)
        if waiting:
            return False
        self._snapshot = None
        return True

    def abandon_snapshot(self, snapshot: SnapshotRows) -> None:
        """A snapshot that could not be written: its tickets go into the next one."""
        self.dirty.update(snapshot.ticket_ids())
        snapshot.waiting = set()
        if self._snapshot is snapshot:
            self._snapshot = None

    def _copy_before_write(self, ticket_id: str) -> None:
        """Build the row of a ticket the snapshot being filled still waits for: it is about to
        change."""
        snapshot = self._snapshot
        assert snapshot is not None
        snapshot.waiting.discard(ticket_id)
        snapshot.rows[ticket_id] = ticket_row(self.tickets[ticket_id], self.policy.reopen_window_us)

    def take_dirty(self) -> dict[str, TicketRow]:
        """The changed tickets since the last call, as snapshot rows, built now."""
        snapshot = self.begin_snapshot()
        self.fill_snapshot(len(snapshot.waiting))
        return snapshot.rows
