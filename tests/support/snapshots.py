"""A partition engine's whole state through its snapshot form, as a restart would see it."""

from __future__ import annotations

from sla_engine.engine import PartitionEngine


def round_trip(engine: PartitionEngine) -> PartitionEngine:
    """Snapshot every ticket of `engine` (JSON bytes, as stored) and restore a new engine.

    The new engine keeps the tickets packed until they are needed, so whatever follows runs
    the lazy path.
    """
    engine.unpack_all()
    engine.dirty.update(engine.tickets)
    rows = [(tid, row.state, row.alarm_us, row.running) for tid, row in engine.take_dirty().items()]
    return PartitionEngine.restore(engine.partition, engine.policy, engine.meta(), rows)
