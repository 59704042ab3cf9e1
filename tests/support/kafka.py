"""Helpers for tests that talk to the real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from sla_core.codec import encode_ticket_event


async def create_topics(bootstrap: str, *names: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


class TicketProducer:
    """Publishes ticket events (structured CloudEvents) keyed by ticket id."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self.n = 0

    async def __aenter__(self) -> TicketProducer:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send(
        self, type_: str, time: datetime, ticket_id: str, event_id: str | None = None, **data: Any
    ) -> None:
        self.n += 1
        value = encode_ticket_event(
            event_id=event_id or f"{ticket_id}-{self.n}",
            source="test",
            type=type_,
            time=time,
            ticket_id=ticket_id,
            data=data,
        )
        await self.producer.send_and_wait(self.topic, value, key=ticket_id.encode())

    async def raw(
        self, value: bytes | None, key: bytes, headers: list[tuple[str, bytes]] | None = None
    ) -> None:
        await self.producer.send_and_wait(self.topic, value, key=key, headers=headers or [])


class TopicReader:
    """Reads a topic from the beginning and keeps everything it has seen."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        self.records: list[Any] = []

    async def __aenter__(self) -> TopicReader:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    @property
    def events(self) -> list[dict[str, Any]]:
        events = []
        for record in self.records:
            try:
                events.append(orjson.loads(record.value))
            except orjson.JSONDecodeError:
                continue  # dead letters are not JSON; read them from .records
        return events

    async def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], within: float = 20.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + within
        while True:
            if predicate(self.events):
                return self.events
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out; saw {[(e.get('type'), e.get('id')) for e in self.events]}"
                )
            batch = await self.consumer.getmany(timeout_ms=200)
            for records in batch.values():
                self.records.extend(records)
            await asyncio.sleep(0)
