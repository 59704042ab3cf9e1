"""Helpers for tests and benchmarks that run against a real PostgreSQL and broker.

They build schema-valid SLA events by hand, create a database or topic with a unique name and
produce events keyed by ticket, as the engine does. Nothing here is used by the service itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from msgspec import UNSET, UnsetType

from report_api.db import migrate, quote_identifier
from sla_core.codec import encode_sla_event
from sla_core.events import Metric, OwnershipSegment, SlaEvent, SlaEventData, SlaType
from sla_core.zones import ZoneSource
from sla_edge.database_url import plain_url

SOURCE = "sla-engine"


def at(text: str) -> datetime:
    """An aware datetime from ISO text (`Z` or an offset required)."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"{text!r} needs an offset")
    return value.astimezone(UTC)


def _moment(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    return at(value) if isinstance(value, str) else value.astimezone(UTC)


def sla_event(
    type: SlaType,
    ticket: str,
    *,
    time: datetime | str,
    started: datetime | str,
    metric: Metric = "first_answer",
    cycle: int = 1,
    level: str = "standard",
    calendar: str = "24/7",
    timezone: str | None = "UTC",
    timezone_source: ZoneSource | None = "calendar",
    target_seconds: float = 3600,
    due: datetime | str | None = None,
    stopped: datetime | str | None = None,
    elapsed: float | None = None,
    remaining: float | None = None,
    department: str | None = "support",
    agent: str | None = "agent-1",
    requester: str | None = "kari@example.no",
    team: str | None = None,
    breach_agent: str | UnsetType | None = UNSET,
    breach_team: str | UnsetType | None = UNSET,
    segments: list[OwnershipSegment] | UnsetType = UNSET,
    corrects_breach: bool = False,
    ticket_deleted: bool = False,
    reason: str | None = None,
    breached: bool | None = None,
    paused: bool | None = None,
    event_id: str | None = None,
) -> SlaEvent:
    """One SLA event as the engine builds it (sla_core's SlaEvent), with 24/7 defaults.

    Without explicit figures: due = started + target; elapsed = seconds from started to the
    event (to `stopped` for endings); remaining = target - elapsed."""
    event_time = _moment(time)
    start = _moment(started)
    stop = _moment(stopped)
    assert event_time is not None and start is not None
    ends = type in {"sla.fulfilled", "sla.missed", "sla.cancelled"}
    if ends and stop is None:
        stop = event_time
    due_at = _moment(due)
    if due_at is None and type != "sla.paused":
        due_at = start + timedelta(seconds=target_seconds)
    if elapsed is None:
        elapsed = ((stop or event_time) - start).total_seconds()
    if remaining is None:
        remaining = target_seconds - elapsed
    timer_id = f"{ticket}:{metric}:{cycle}"
    if breached is None:
        breached = type in {"sla.breached", "sla.missed"}
    data = SlaEventData(
        timer_id=timer_id,
        ticket_id=ticket,
        metric=metric,
        cycle=cycle,
        level=level,
        policy_version="sha256:test",
        calendar=calendar,
        timezone=timezone,
        timezone_source=timezone_source,
        target_seconds=target_seconds,
        started_at=start,
        due_at=due_at,
        stopped_at=stop,
        elapsed_seconds=elapsed,
        remaining_seconds=remaining,
        threshold="75%" if type == "sla.warning" else None,
        corrects_breach=corrects_breach,
        breached=breached,
        paused=bool(paused) if paused is not None else type == "sla.paused",
        reason="deleted" if ticket_deleted else reason,
        ticket_deleted=ticket_deleted,
        department=department,
        agent=agent,
        requester=requester,
        team=team,
        breach_agent=breach_agent,
        breach_team=breach_team,
        segments=segments,
        priority="normal",
        customer_group=None,
        source="email",
        tags=[],
    )
    event_id = event_id or f"{timer_id}/{event_time.isoformat()}:{type}"
    return SlaEvent(id=event_id, type=type, time=event_time, ticket_id=ticket, data=data)


def encode(event: SlaEvent, *, emitted: datetime | None = None) -> bytes:
    """The Kafka value of `event`, as the engine's edge writes it (emitted_at: its time)."""
    return encode_sla_event(event, source=SOURCE, emitted_at=emitted or event.time)


async def create_database(admin_url: str, name: str, *, migrated: bool = True) -> str:
    """Create database `name` (a plain identifier) next to `admin_url`'s; return its URL."""
    conn = await asyncpg.connect(plain_url(admin_url))
    try:
        await conn.execute(f"CREATE DATABASE {quote_identifier(name)}")
    finally:
        await conn.close()
    url = plain_url(admin_url).rsplit("/", 1)[0] + "/" + name
    if migrated:
        await migrate(url)
    return url


async def create_topic(bootstrap_servers: str, topic: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
        )
    finally:
        await admin.close()


async def produce(bootstrap_servers: str, topic: str, events: Iterable[SlaEvent | bytes]) -> int:
    """Send events keyed by their ticket, in order (raw bytes: keyed `garbage`); returns how
    many were sent."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        enable_idempotence=False,  # the test broker refuses idempotent producers
        linger_ms=5,
        max_batch_size=1024 * 1024,
    )
    await producer.start()
    sent = 0
    try:
        futures = []
        for event in events:
            if isinstance(event, bytes):
                value, key = event, b"garbage"
            else:
                value, key = encode(event), event.ticket_id.encode()
            futures.append(await producer.send(topic, value=value, key=key))
            sent += 1
        await producer.flush()
        for future in futures:
            await future
    finally:
        await producer.stop()
    return sent
