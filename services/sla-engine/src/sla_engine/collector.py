"""Garbage collection for a process that holds millions of long-lived timer objects.

CPython's cyclic collector walks every tracked object on a full collection: with a million open
timers that is a pause of about a second, and no breach is emitted during it (measured by the
`breach_delay_p99_ms` benchmark). The engine's own state has no reference cycles (tickets own
their timers, nothing points back), so reference counting frees it; the cyclic collector is only
needed for the garbage of the client libraries. Hence:

- while a snapshot is restored the collector is off (nothing built there is cyclic garbage), and
  what it built is frozen straight away;
- after a restore, and then every `freeze_every` seconds, a young collection runs and the
  survivors move to the permanent generation (`gc.freeze()`, a constant-time splice), so the
  automatic collections only ever walk what is new since the last freeze;
- every `full_every` seconds everything is unfrozen and collected once, so cyclic garbage that was
  frozen with the rest is reclaimed: one long pause an hour instead of one every few seconds.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator


class Collector:
    def __init__(
        self,
        freeze_every: float = 5.0,
        full_every: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.freeze_every = freeze_every
        self.full_every = full_every
        self._clock = clock
        self._last_freeze = self._last_full = clock()

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
            gc.freeze()
            self._last_freeze = self._clock()

    def settle(self) -> None:
        """Collect the young generations and freeze what survived."""
        gc.collect(1)
        gc.freeze()
        self._last_freeze = self._clock()

    def tick(self) -> None:
        """Call often (every loop turn); does the periodic work when it is due."""
        now = self._clock()
        if now - self._last_full >= self.full_every:
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self._last_full = self._last_freeze = now
        elif now - self._last_freeze >= self.freeze_every:
            self.settle()
