"""Fakes of the engine's ports (`sla_engine.ports`): they record what happened, for unit tests
that wire the engine with `bootstrap` and no infrastructure."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition

from sla_core.partition.rows import TicketRow
from sla_engine.ports import Snapshot


@dataclass
class FakeRecord:
    offset: int
    value: bytes | None
    key: bytes = b"t-1"
    partition: int = 0
    timestamp: int = 0
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def _done() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


class FakeBatch:
    def __init__(self, limit: int) -> None:
        self.records: list[tuple[bytes, bytes]] = []
        self.limit = limit

    def append(self, *, key: bytes, value: bytes, timestamp: None, headers: Any) -> object | None:
        if len(self.records) >= self.limit:
            return None
        self.records.append((key, value))
        return object()


class FakeProducer:
    """Takes every record at once; `sent` lists (topic, partition, key, value, headers)."""

    def __init__(self, *, start_errors: list[BaseException] | None = None) -> None:
        self.sent: list[tuple[str, int | None, bytes | None, bytes | None, Any]] = []
        self.start_errors = list(start_errors or [])
        self.started = self.stopped = 0

    async def start(self) -> None:
        self.started += 1
        if self.start_errors:
            raise self.start_errors.pop(0)

    async def stop(self) -> None:
        self.stopped += 1

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1}

    def create_batch(self) -> FakeBatch:
        return FakeBatch(limit=100)

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        for key, value in batch.records:
            self.sent.append((topic, partition, key, value, None))
        return _done()

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> asyncio.Future[Any]:
        self.sent.append((topic, partition, key, value, headers))
        return _done()

    def values(self, topic: str) -> list[bytes | None]:
        return [value for t, _, _, value, _ in self.sent if t == topic]


class FakeConsumer:
    """Serves scripted batches; records seeks and commits. `on_fetch` runs before each fetch."""

    def __init__(self, topic: str, partitions: int = 1) -> None:
        self.topic = topic
        self.batches: list[dict[TopicPartition, list[Any]]] = []
        self.seeks: list[tuple[int, int]] = []
        self.commits: list[dict[TopicPartition, int]] = []
        self.ends = {TopicPartition(topic, p): 0 for p in range(partitions)}
        self.listener: ConsumerRebalanceListener | None = None
        self.on_fetch: Callable[[int], None] | None = None
        self.fetches = 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def subscribe(self, topics: list[str], listener: ConsumerRebalanceListener) -> None:
        self.listener = listener

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[Any]]:
        self.fetches += 1
        if self.on_fetch is not None:
            self.on_fetch(self.fetches)
        if self.batches:
            batch = self.batches.pop(0)
            for tp, records in batch.items():
                self.ends[tp] = max(self.ends.get(tp, 0), records[-1].offset + 1)
            return batch
        await asyncio.sleep(0)
        return {}

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition.partition, offset))

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))

    async def committed(self, partition: TopicPartition) -> int | None:
        return None

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.ends.get(tp, 0) for tp in partitions}

    def highwater(self, partition: TopicPartition) -> int | None:
        return self.ends.get(partition)


class FakeStore:
    """Snapshots in a dict; `load_errors` are raised by the first loads, in order."""

    def __init__(self, *, load_errors: list[BaseException] | None = None) -> None:
        self.snapshots: dict[int, Snapshot] = {}
        self.saved: list[tuple[int, int, dict[str, Any], dict[str, TicketRow]]] = []
        self.forgotten_ids: dict[int, set[str]] = {}
        self.lookups: list[set[str]] = []
        self.load_errors = list(load_errors or [])
        self.loads = 0

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def ping(self) -> bool:
        return True

    async def load(self, partition: int) -> Snapshot | None:
        self.loads += 1
        if self.load_errors:
            raise self.load_errors.pop(0)
        return self.snapshots.get(partition)

    async def forgotten(self, partition: int, ticket_ids: Collection[str]) -> set[str]:
        self.lookups.append(set(ticket_ids))
        return self.forgotten_ids.get(partition, set()) & set(ticket_ids)

    async def save(
        self,
        partition: int,
        next_offset: int,
        meta: dict[str, Any],
        tickets: dict[str, TicketRow],
        forgotten: Collection[str] = (),
    ) -> None:
        """Upsert the rows, delete the forgotten ones and keep their ids, as PostgreSQL does."""
        self.saved.append((partition, next_offset, meta, dict(tickets)))
        old = self.snapshots.get(partition)
        rows = {tid: (tid, *rest) for tid, *rest in (old[2] if old else [])}
        rows.update((tid, (tid, r.state, r.alarm_us, r.running)) for tid, r in tickets.items())
        for tid in forgotten:
            rows.pop(tid, None)
        self.forgotten_ids.setdefault(partition, set()).update(forgotten)
        self.snapshots[partition] = (next_offset, meta, list(rows.values()))


async def no_topics() -> None:
    """`bootstrap(ensure_topics=...)` for fakes: there is no broker to create topics on."""
