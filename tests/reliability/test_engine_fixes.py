"""The engine fixes the fault suite led to, pinned without infrastructure: a batch fetched across a
rebalance is dropped and re-fetched, a record the domain cannot apply or that lies absurdly far in
the future is dead-lettered (a clock somewhat ahead is clamped), an oversized dead letter is cut
to size, and ticket attributes must be text."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from sla_core.codec import MAX_EVENT_BYTES, DecodeError, decode_ticket_event, encode_ticket_event
from sla_engine.config import EngineSettings
from sla_engine.engine import PartitionEngine, to_us
from sla_engine.service import DeadLetter, EngineService, Outbox, Partition
from tests.reliability.support.workload import POLICY

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@dataclass
class FakeRecord:
    offset: int
    value: bytes | None
    key: bytes = b"t-1"
    partition: int = 0
    timestamp: int = 0
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def event(ticket: dict[str, Any] | None = None, at: datetime = NOW) -> bytes:
    return encode_ticket_event(
        event_id="e-1",
        source="test",
        type="ticket.created",
        time=at,
        ticket_id="t-1",
        data={"ticket": ticket or {}},
    )


@pytest.fixture
def service(tmp_path: Path) -> EngineService:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    settings = EngineSettings(policy_file=policy, ticket_topic="tickets", dlq_topic="dlq")
    service = EngineService(settings, clock=lambda: NOW)
    service.parts[0] = Partition(PartitionEngine(0, service.policy), 0, 0)
    return service


@pytest.mark.parametrize("attribute", ["status", "priority", "department", "agent", "source"])
@pytest.mark.parametrize("value", [["x"], {"a": 1}, 5, True])
def test_ticket_text_attributes_must_be_text(attribute: str, value: object) -> None:
    with pytest.raises(DecodeError) as error:
        decode_ticket_event(event({attribute: value}))
    assert error.value.reason == "wrong_type"
    assert attribute in str(error.value)


def apply(service: EngineService, *records: FakeRecord) -> Outbox:
    outbox = Outbox()
    part = service.parts[0]
    service._apply_records(TopicPartition("tickets", 0), part, list(records), NOW, outbox)
    return outbox


def test_a_time_beyond_the_future_tolerance_is_dead_lettered(service: EngineService) -> None:
    outbox = apply(service, FakeRecord(0, event(at=NOW + timedelta(days=3))))
    assert [d.error.reason for d in outbox.dead] == ["future_time"]
    assert outbox.events == []
    assert service.parts[0].next_offset == 1


def test_a_clock_somewhat_ahead_is_clamped_and_counted_not_dead_lettered(
    service: EngineService,
) -> None:
    """Between the tolerance (5 min) and the rejection bound (1 day): applied at the wall clock,
    counted, and the watermark stays at the wall clock."""
    outbox = apply(service, FakeRecord(0, event(at=NOW + timedelta(hours=2))))
    assert outbox.dead == []
    assert [e.type for e in outbox.events][:1] == ["sla.started"]
    assert outbox.events[0].data.started_at == NOW
    assert service.parts[0].engine.watermark_us <= to_us(NOW)
    assert service.metrics.future_clamped._value.get() == 1


def test_a_record_the_domain_cannot_apply_is_dead_lettered_not_fatal(
    service: EngineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_: object) -> None:
        raise TypeError("unhashable type: 'list'")

    monkeypatch.setattr(service.parts[0].engine, "handle", explode)
    outbox = apply(service, FakeRecord(0, event()))
    assert [d.error.reason for d in outbox.dead] == ["unprocessable"]
    assert "TypeError" in str(outbox.dead[0].error)
    assert service.metrics.dead_letters.labels("unprocessable")._value.get() == 1


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, list[tuple[str, bytes]]]] = []

    async def send(
        self, topic: str, value: bytes | None, key: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[None]:
        self.sent.append((topic, value, headers))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


async def test_an_oversized_dead_letter_goes_cut_to_size_with_its_length(
    service: EngineService,
) -> None:
    producer = FakeProducer()
    service.producer = producer  # type: ignore[assignment]
    huge = b"x" * (MAX_EVENT_BYTES * 2)
    small = FakeRecord(1, b"{not json")
    outbox = Outbox(
        dead=[
            DeadLetter(FakeRecord(0, huge), DecodeError("too_large", "big"), "tickets"),
            DeadLetter(small, DecodeError("not_json", "bad"), "tickets"),
        ]
    )
    await service._send_all(outbox)
    (_, big_value, big_headers), (_, small_value, small_headers) = producer.sent
    assert big_value == huge[:MAX_EVENT_BYTES]
    assert dict(big_headers)["__connect.errors.value.truncated"] == str(len(huge)).encode()
    assert small_value == b"{not json"
    assert "__connect.errors.value.truncated" not in dict(small_headers)


class RacingConsumer:
    """Returns a batch fetched from the committed offset while a rebalance restores the
    partition to its (older) snapshot offset, then stops the service."""

    def __init__(self, service: EngineService) -> None:
        self.service = service
        self.calls = 0
        self.seeks: list[tuple[int, int]] = []

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Any]]:
        self.calls += 1
        if self.calls == 1:
            # the rebalance lands while this fetch is in flight: the engine goes back to 5
            self.service._rebalances += 1
            self.service.parts[0].next_offset = 5
            return {TopicPartition("tickets", 0): [FakeRecord(9, event())]}
        self.service._stopping.set()
        return {}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp.partition, offset))


async def test_a_batch_fetched_across_a_rebalance_is_dropped_and_fetched_again(
    service: EngineService,
) -> None:
    consumer = RacingConsumer(service)
    service.consumer = consumer  # type: ignore[assignment]
    await service.run()
    assert consumer.seeks == [(0, 5)]  # fetch again from where the restored engine is
    assert service.parts[0].next_offset == 5  # records 5 to 8 were not skipped
    assert service.parts[0].engine.tickets == {}


async def test_a_restore_that_fails_is_retried_not_abandoned(
    service: EngineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebalance while the snapshots are out of reach (PostgreSQL down) must wait for them:
    a partition assigned without its engine would have its records fetched and skipped."""
    attempts: list[int] = []

    async def restore(tp: TopicPartition, end_offset: int) -> None:
        attempts.append(tp.partition)
        if len(attempts) == 1:
            raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(service, "_restore", restore)
    await service._restore_until_done(TopicPartition("tickets", 2), 0)
    assert attempts == [2, 2]
