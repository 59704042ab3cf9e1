"""Reading a topic back from its beginning, raw: SLA events, dead letters, whatever it holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer


class LogReader:
    """Keeps every record of a topic seen so far; `until(predicate)` reads on until it holds."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        self.records: list[Any] = []

    async def __aenter__(self) -> LogReader:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    @property
    def values(self) -> list[bytes]:
        return [r.value for r in self.records]

    async def poll(self, timeout_ms: int = 200) -> int:
        """Read what has arrived; how many new records."""
        batch = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=10000)
        n = 0
        for records in batch.values():
            self.records.extend(records)
            n += len(records)
        return n

    async def until(
        self,
        predicate: Callable[[LogReader], bool],
        within: float,
        what: str = "condition",
        *,
        on_timeout: Callable[[], str] | None = None,
    ) -> None:
        deadline = time.monotonic() + within
        while not predicate(self):
            if time.monotonic() > deadline:
                detail = on_timeout() if on_timeout else ""
                raise AssertionError(
                    f"{what} not met within {within}s on {self.topic} "
                    f"({len(self.records)} records){detail}"
                )
            await self.poll()
            await asyncio.sleep(0)

    async def settle(self, quiet: float = 1.5, within: float = 60.0) -> None:
        """Read until nothing new has arrived for `quiet` seconds."""
        deadline = time.monotonic() + within
        last_new = time.monotonic()
        while time.monotonic() - last_new < quiet:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.topic} kept growing for {within}s")
            if await self.poll():
                last_new = time.monotonic()
