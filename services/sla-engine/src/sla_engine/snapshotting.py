"""Step 6 of the loop: every `snapshot_interval_seconds`, the changed tickets and each
partition's next offset go to the snapshot store, in the background.

A snapshot is begun in the loop, so its rows are the states at these offsets; they are built
and written in the background while the loop goes on (a ticket about to change is built first:
`SnapshotRows`), one write at a time, in order. A failed write only delays the rows: they go
into the next snapshot. A forced snapshot (revocation, stop) waits for the write before it and
for its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from sla_core.partition.engine import PartitionEngine
from sla_core.partition.rows import SnapshotRows
from sla_engine.intake import OwnedPartition
from sla_engine.metrics import EngineMetrics
from sla_engine.ports import SnapshotStorage

log = logging.getLogger("sla_engine")

FILL_CHUNK = 500  # snapshot rows built between two turns of the loop (about 3 ms)


@dataclass
class _Taken:
    """One partition's snapshot as begun in the loop, to be filled and written."""

    partition: int
    next_offset: int
    engine: PartitionEngine
    rows: SnapshotRows  # filled by the write task, or by the engine before a ticket changes


class Snapshots:
    """Schedules snapshots of the owned partitions and writes them in the background."""

    def __init__(
        self,
        store: SnapshotStorage,
        interval_s: float,
        metrics: EngineMetrics,
        settle_outputs: Callable[[], Awaitable[None]],
    ) -> None:
        self.store = store
        self.interval_s = interval_s
        self.metrics = metrics
        self._settle_outputs = settle_outputs  # rows must not run ahead of acknowledged outputs
        self._last = time.monotonic()
        self._writing: asyncio.Task[None] | None = None

    async def take(
        self, parts: dict[int, OwnedPartition], *, force: bool = False, only: Iterable[int] = ()
    ) -> None:
        """Begin a snapshot of `parts` (of the partitions `only`, when given) if the interval
        has passed or `force`, and write it in the background."""
        if not force and time.monotonic() - self._last < self.interval_s:
            return
        if self._writing is not None and not self._writing.done() and not force:
            return  # the database is slower than the interval: take more rows next time
        self._last = time.monotonic()
        await self._settle_outputs()
        await self.written()
        wanted = list(only) or list(parts)
        taken = [
            _Taken(n, parts[n].next_offset, parts[n].engine, parts[n].engine.begin_snapshot())
            for n in wanted
            if n in parts
        ]
        self._writing = asyncio.create_task(self._write(taken))
        if force:
            await self.written()

    async def written(self) -> None:
        """Wait for the snapshot being written, if any."""
        if self._writing is not None:
            await self._writing
            self._writing = None

    async def _write(self, taken: list[_Taken]) -> None:
        started = time.perf_counter()
        for n, snap in enumerate(taken):
            try:
                while not snap.engine.fill_snapshot(FILL_CHUNK):  # noqa: ASYNC110 (work)
                    await asyncio.sleep(0)  # the loop goes on between chunks
                rows = snap.rows
                await self.store.save(
                    snap.partition, snap.next_offset, rows.meta, rows.rows, rows.forgotten
                )
                snap.engine.snapshot_saved(rows)
            except Exception as exc:  # the database may be down: keep the rows for next time
                for unsaved in taken[n:]:
                    unsaved.engine.abandon_snapshot(unsaved.rows)
                log.warning("snapshot of partition %s failed: %s", snap.partition, exc)
                return
        self.metrics.snapshot_seconds.observe(time.perf_counter() - started)
