"""A seeded ticket stream, and the verdict of every timer read back from the SLA event log.

The stream is deterministic for a seed. Its event times lie ahead of the wall clock (the engine
runs with a future tolerance wider than the stream), so every partition's watermark is its
latest event time and never the wall clock: verdicts then depend on the input alone, not on
when the engine happened to catch up, and a disturbed run can be compared event by event with
an undisturbed one. The last record of each partition is a sentinel far later than every due, so
every breach the stream holds falls due before the stream ends.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from sla_core.codec import encode_ticket_event

POLICY = """
levels:
  standard:
    targets: {first_answer: 10m, next_answer: 20m, resolution: 1h}
    warnings: ["50%"]
    pause_when_status: [pending]
  gold:
    targets: {first_answer: 5m, next_answer: 10m, resolution: 30m}
    warnings: ["50%", "1m"]
    pause_when_status: [pending]
default_level: standard
rules:
  - name: urgent tickets
    when: {field: priority, op: eq, value: urgent}
    then: {set_level: gold}
"""

# event times start this far ahead of the wall clock; the engine tolerates up to FUTURE_TOLERANCE
LEAD = timedelta(hours=1)
FUTURE_TOLERANCE_SECONDS = 10 * 86400
SENTINEL_AFTER = timedelta(days=2)
TERMINAL = ("sla.fulfilled", "sla.missed", "sla.cancelled")


@dataclass(frozen=True)
class Record:
    partition: int
    key: bytes
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def partition_of(ticket_id: str, partitions: int) -> int:
    return zlib.crc32(ticket_id.encode()) % partitions


def ticket_stream(seed: int, tickets: int, partitions: int, prefix: str) -> list[Record]:
    """Every event of `tickets` random tickets in event-time order, then one sentinel a partition.

    A ticket is created, then answered (in time or late), replied to, escalated to the gold
    level, put on hold and back, closed, reopened or deleted, in a random mix; a few events are
    sent twice (the engine must treat the repeat as a duplicate).
    """
    rng = random.Random(seed)
    base = datetime.now(UTC).replace(microsecond=0) + LEAD
    events: list[tuple[datetime, str, str, str, dict[str, Any]]] = []
    for i in range(tickets):
        tid = f"{prefix}-{i}"
        t = base + timedelta(seconds=7 * i + rng.randint(0, 6))
        n = 0

        def add(type_: str, at: datetime, _tid: str = tid, **data: Any) -> None:
            nonlocal n
            n += 1
            events.append((at, type_, _tid, f"{_tid}-e{n}", data))

        ticket = {
            "source": rng.choice(["email", "email", "web", "chat"]),
            "department": rng.choice(["support", "sales", "billing"]),
            "priority": rng.choice(["low", "normal", "high"]),
            "requester": f"r{rng.randint(1, 50)}",
            "status": "open",
        }
        add("ticket.created", t, ticket=ticket)
        for _ in range(rng.randint(0, 4)):
            t += timedelta(seconds=rng.randint(20, 900))
            roll = rng.random()
            if roll < 0.35:
                add("ticket.answered", t, channel="email", automated=rng.random() < 0.1)
            elif roll < 0.55:
                add("ticket.customer_replied", t, channel=rng.choice(["email", "chat"]))
            elif roll < 0.65:
                add("ticket.updated", t, ticket={"priority": "urgent"})
            elif roll < 0.75:
                add("ticket.updated", t, ticket={"status": "pending"})
                t += timedelta(seconds=rng.randint(30, 600))
                add(
                    "ticket.updated", t, ticket={"status": "open", "agent": f"a{rng.randint(1, 9)}"}
                )
            elif roll < 0.85:
                add("ticket.closed", t)
                if rng.random() < 0.3:
                    t += timedelta(seconds=rng.randint(30, 600))
                    add("ticket.reopened", t)
            elif roll < 0.9:
                add("ticket.deleted", t)
                break
            else:
                add("ticket.updated", t, ticket={"department": rng.choice(["support", "sales"])})
        if rng.random() < 0.05:
            at, type_, _, event_id, data = events[-1]
            events.append((at, type_, tid, event_id, data))  # a duplicate delivery
    events.sort(key=lambda e: e[0])
    records = [
        Record(
            partition_of(tid, partitions),
            tid.encode(),
            encode_ticket_event(
                event_id=event_id,
                source="reliability",
                type=type_,
                time=at,
                ticket_id=tid,
                data=data,
            ),
        )
        for at, type_, tid, event_id, data in events
    ]
    last = events[-1][0] + SENTINEL_AFTER
    for p in range(partitions):
        tid = f"{prefix}-sentinel-{p}"
        value = encode_ticket_event(
            event_id=f"{tid}-e1",
            source="reliability",
            type="ticket.created",
            time=last,
            ticket_id=tid,
            data={},
        )
        records.append(Record(p, tid.encode(), value))
    return records


def sentinel_ids(prefix: str, partitions: int) -> set[str]:
    return {f"{prefix}-sentinel-{p}" for p in range(partitions)}


class StreamProducer:
    """Sends records to their partitions, acks=all, without idempotence (tansu refuses it)."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=False,
            linger_ms=5,
            max_request_size=8 * 1024 * 1024,
        )

    async def __aenter__(self) -> StreamProducer:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send(
        self,
        topic: str,
        records: Iterable[Record],
        *,
        per_second: float | None = None,
        chunk: int = 50,
    ) -> int:
        """Send every record (at about `per_second` if given); returns how many."""
        batch: list[asyncio.Future[Any]] = []
        sent = 0
        for record in records:
            batch.append(
                await self.producer.send(
                    topic,
                    record.value,
                    key=record.key,
                    partition=record.partition,
                    headers=list(record.headers),
                )
            )
            sent += 1
            if len(batch) >= chunk:
                await asyncio.gather(*batch)
                batch = []
                if per_second:
                    await asyncio.sleep(chunk / per_second)
        await asyncio.gather(*batch)
        return sent


# ---- reading the verdicts back ---------------------------------------------------------------


def distinct_events(values: Iterable[bytes]) -> dict[str, dict[str, Any]]:
    """SLA events by id. A re-emission after a crash must repeat its event exactly (but for the
    wall-clock `emitted_at`); anything else under one id is a defect and fails here."""
    by_id: dict[str, dict[str, Any]] = {}
    for value in values:
        event = orjson.loads(value)
        event["data"].pop("emitted_at", None)
        seen = by_id.setdefault(event["id"], event)
        if seen != event:
            raise AssertionError(f"two different events share id {event['id']}: {seen} {event}")
    return by_id


def verdicts(events: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Each timer's verdict: fulfilled, missed or cancelled once ended, else breached or running;
    deleted when its ticket was deleted (a deletion may follow the timer's end: SPEC section 2).

    Also checks what every report relies on: a timer ends at most once.
    """
    by_timer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    deleted: set[str] = set()
    for event in events:
        data = event["data"]
        by_timer[data["timer_id"]].append(event)
        if data.get("ticket_deleted"):
            deleted.add(data["ticket_id"])
    result: dict[str, str] = {}
    for timer_id, timer_events in by_timer.items():
        if timer_events[0]["data"]["ticket_id"] in deleted:
            result[timer_id] = "deleted"  # a deleted ticket's timers leave the reports
            continue
        ends = [e for e in timer_events if e["type"] in TERMINAL]
        if len(ends) > 1:
            raise AssertionError(f"timer {timer_id} ended {len(ends)} times: {ends}")
        if ends:
            result[timer_id] = ends[0]["type"].removeprefix("sla.")
        elif any(e["type"] == "sla.breached" for e in timer_events):
            result[timer_id] = "breached"
        else:
            result[timer_id] = "running"
    return result


def mismatches(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """Human-readable differences between two verdict maps (empty when equal)."""
    out = []
    for timer_id in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(timer_id, "absent"), actual.get(timer_id, "absent")
        if want != got:
            out.append(f"{timer_id}: {want} undisturbed, {got} disturbed")
    return out
