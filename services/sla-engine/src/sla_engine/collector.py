"""Garbage collection for a process that holds millions of long-lived timer objects.

CPython's cyclic collector walks every tracked object on a full collection: with a million open
timers that is a pause of about a second, and no breach is emitted during it (measured by the
`breach_delay_p99_ms` benchmark). Under load the automatic collections cost as much again: every
ticket leaves a few long-lived objects behind, and each automatic full collection walks all of
them that are not frozen (measured in the throughput benchmark: about 10 us per event, a quarter
of the engine's time). The engine's own state has no reference cycles (tickets own their timers,
nothing points back), so reference counting frees it; the cyclic collector is only needed for
the garbage of the client libraries. Hence, once `install()`ed:

- automatic collections are young ones only, and rarer (`young_threshold` allocations): the
  objects of a fetched batch mostly die before one runs, and the cyclic garbage of the client
  libraries is reclaimed there;
- every `freeze_every` seconds what is new moves to the permanent generation without a
  collection (`gc.freeze()`, a constant-time splice), which no collection walks. A collection
  first would walk every new ticket once more (50-60 ms a second at 25,000 events/s) and, in
  the throughput benchmark, found no garbage at all;
- while a snapshot is restored the collector is off (nothing built there is cyclic garbage), and
  what it built is frozen straight away;
- every `full_every` seconds everything is unfrozen and collected once, so cyclic garbage that
  was frozen while still alive is reclaimed: one long pause an hour instead of one every few
  seconds.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from typing import Final

_NEVER: Final = 2**31 - 1  # a threshold no count reaches: no automatic full collection


class Collector:
    def __init__(
        self,
        freeze_every: float = 1.0,
        full_every: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        young_threshold: int = 200_000,
    ) -> None:
        self.freeze_every = freeze_every
        self.full_every = full_every
        self.young_threshold = young_threshold
        self._previous: tuple[int, int, int] | None = None
        self._clock = clock
        self._last_freeze = self._last_full = clock()

    def install(self) -> None:
        """Make this the process's policy: young automatic collections only, every
        `young_threshold` allocations (the oldest generation is frozen by `tick`)."""
        if self._previous is None:
            self._previous = gc.get_threshold()
        gc.set_threshold(self.young_threshold, 10, _NEVER)

    def uninstall(self) -> None:
        """Back to the thresholds from before `install` (an embedding process, tests)."""
        if self._previous is not None:
            gc.set_threshold(*self._previous)
            self._previous = None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No automatic collection inside (for bulk loads); what was built is frozen afterwards
        without a collection, which would walk every object built (a second per million
        timers) to find no garbage."""
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            if was_enabled:
                gc.enable()
            self._freeze(self._clock())

    def settle(self) -> None:
        """Collect what is new since the last freeze, and freeze what survived (after a bulk
        load, where a tick's freeze alone would keep the garbage made by the load)."""
        gc.collect()
        self._freeze(self._clock())

    def tick(self) -> None:
        """Call often (every loop turn); does the periodic work when it is due."""
        now = self._clock()
        if now - self._last_full >= self.full_every:
            gc.unfreeze()
            gc.collect()
            self._freeze(now)
            self._last_full = now
        elif now - self._last_freeze >= self.freeze_every:
            self._freeze(now)

    def _freeze(self, now: float) -> None:
        """Move every tracked object to the permanent generation (a constant-time splice)."""
        gc.freeze()
        self._last_freeze = now
