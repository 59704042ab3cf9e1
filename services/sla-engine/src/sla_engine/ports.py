"""The engine's ports: what the loop needs of a consumer, a producer and a snapshot store.

Small Protocols, so that `bootstrap` wires the real clients (aiokafka, asyncpg) in production
and tests pass fakes that record what happened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import Any, Protocol

from aiokafka import ConsumerRebalanceListener, TopicPartition

from sla_core.partition.rows import StoredRow, TicketRow
from sla_core.policy import Policy

Snapshot = tuple[int, dict[str, Any], list[StoredRow]]  # next offset, meta, ticket rows


class Consumer(Protocol):
    """The part of `AIOKafkaConsumer` the engine uses."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def subscribe(self, topics: list[str], listener: ConsumerRebalanceListener) -> None: ...
    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = ..., max_records: int | None = ...
    ) -> dict[TopicPartition, list[Any]]: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...
    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...
    async def committed(self, partition: TopicPartition) -> int | None: ...
    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]: ...
    def highwater(self, partition: TopicPartition) -> int | None: ...


class Producer(Protocol):
    """The part of `AIOKafkaProducer` the engine uses."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def partitions_for(self, topic: str) -> set[int]: ...
    def create_batch(self) -> Any: ...
    async def send_batch(
        self, batch: Any, topic: str, *, partition: int
    ) -> asyncio.Future[Any]: ...
    async def send(
        self,
        topic: str,
        value: bytes | None = ...,
        key: bytes | None = ...,
        partition: int | None = ...,
        headers: list[tuple[str, bytes]] | None = ...,
    ) -> asyncio.Future[Any]: ...


class SnapshotStorage(Protocol):
    """Where partition snapshots live (`adapters.snapshots.SnapshotStore` in PostgreSQL)."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> bool: ...
    async def load(self, partition: int) -> Snapshot | None: ...
    async def forgotten(self, partition: int, ticket_ids: Collection[str]) -> set[str]: ...
    async def save(
        self,
        partition: int,
        next_offset: int,
        meta: dict[str, Any],
        tickets: dict[str, TicketRow],
        forgotten: Collection[str] = (),
    ) -> None: ...


class PolicyRegistryPort(Protocol):
    """Where the policy versions the engine loads are kept (`adapters.policy_registry`)."""

    def offer(self, policy: Policy) -> None: ...
    async def close(self) -> None: ...


Clock = Callable[[], datetime]  # the wall clock (aware): read only at the edge
TopicsCheck = Callable[[], Awaitable[None]]  # creates the engine's topics when missing
