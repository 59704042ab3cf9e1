"""Restored tickets kept in their snapshot form until first needed (the lazy restore).

A restore keeps each ticket's state as the JSON bytes of its row, with one heap entry at the
row's alarm (`PartitionEngine.restore`). A ticket is decoded when an event comes for it, when that
entry surfaces, or while the service is idle (`unpack_some`), so a restart with a million open
timers costs a row each, not the building of every timer.
"""

from __future__ import annotations

from itertools import islice

import orjson

from sla_core.partition.rows import SnapshotError
from sla_core.policy import Policy
from sla_core.policy_history import PolicyHistory
from sla_core.timers import TicketState, state_from_dict


class Packing:
    """The packed side of `PartitionEngine`: restored tickets not decoded yet."""

    partition: int
    policy: Policy
    tickets: dict[str, TicketState]
    history: PolicyHistory
    watermark_us: int
    _packed: dict[str, bytes]

    def _arm_ticket(self, state: TicketState, reopen_window_us: int) -> None:
        raise NotImplementedError

    @property
    def packed(self) -> int:
        """Restored tickets not decoded yet."""
        return len(self._packed)

    def _unpack(self, ticket_id: str) -> TicketState | None:
        """Decode a packed ticket and arm its timers; None if it is not packed. It comes back
        bound to the policy version its row names (its timers get that version's calendars)."""
        packed = self._packed
        raw = packed.pop(ticket_id, None)
        if raw is None:
            return None
        try:
            decoded = orjson.loads(raw)
            binding = self.history.restored(decoded.get("v"))
            state = state_from_dict(ticket_id, decoded, binding.policy, binding)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SnapshotError(
                f"partition {self.partition}: the snapshot row of ticket {ticket_id!r}"
                f" cannot be decoded: {exc!r}"
            ) from exc
        self.tickets[ticket_id] = state
        self._arm_ticket(state, binding.policy.reopen_window_us)
        if not packed:  # every ticket's binding is counted now: unneeded versions can go
            self.history.sweep(self.watermark_us)
        return state

    def unpack_some(self, limit: int) -> int:
        """Decode up to `limit` packed tickets (the service does this while it is idle, so a
        restored partition ends up decoded without the restore waiting for it); how many."""
        ids = list(islice(self._packed, limit))
        for ticket_id in ids:
            self._unpack(ticket_id)
        return len(ids)

    def unpack_all(self) -> None:
        """Decode every packed ticket now."""
        self.unpack_some(len(self._packed))
