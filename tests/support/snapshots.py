"""A partition engine's whole state through its snapshot form, as a restart would see it."""

from __future__ import annotations

from sla_core.partition.engine import PartitionEngine
from sla_core.partition.rows import StoredRow


def all_rows(engine: PartitionEngine) -> list[StoredRow]:
    """Every ticket of `engine` as the stored rows a restore reads (packed ones decoded first)."""
    engine.unpack_all()
    engine.dirty.update(engine.tickets)
    return [(tid, *row) for tid, row in engine.take_dirty().items()]


def round_trip(engine: PartitionEngine) -> PartitionEngine:
    """Snapshot every ticket of `engine` and restore a new engine from the rows.

    The new engine keeps the tickets packed until they are needed, so whatever follows runs
    the lazy path.
    """
    return PartitionEngine.restore(engine.partition, engine.policy, engine.meta(), all_rows(engine))
