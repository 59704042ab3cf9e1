"""The engine's shell without infrastructure: `bootstrap` wired with fakes for the consumer, the
producer, the snapshot store and the clock.

Pinned here are the fixes the fault suite led to: a batch fetched across a rebalance is dropped
and re-fetched, a record the domain cannot apply or that lies absurdly far in the future is
dead-lettered (a clock somewhat ahead is clamped), an oversized dead letter is cut to size, a
failed restore is retried, and ticket attributes must be text. And what a new user tripped on:
a broker that refuses idempotent producers is named once, with the setting that fixes it."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError, UnknownError

from sla_core.codec import MAX_EVENT_BYTES, DecodeError, decode_ticket_event, encode_ticket_event
from sla_core.events import TicketEvent
from sla_core.partition.engine import HandleResult, PartitionEngine, to_us
from sla_engine.adapters.kafka import IdempotenceRefused, send_outbox
from sla_engine.bootstrap import bootstrap
from sla_engine.config import EngineSettings
from sla_engine.intake import DeadLetter, Outbox, OwnedPartition, take_records
from sla_engine.service import EngineService
from tests.reliability.support.workload import POLICY
from tests.support.fakes import FakeConsumer, FakeProducer, FakeRecord, FakeStore, no_topics

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
TOPIC = "tickets"


def event(ticket: dict[str, Any] | None = None, at: datetime = NOW, event_id: str = "e-1") -> bytes:
    return encode_ticket_event(
        event_id=event_id,
        source="test",
        type="ticket.created",
        time=at,
        ticket_id="t-1",
        data={"ticket": ticket or {}},
    )


def settings_for(tmp_path: Path, **changes: Any) -> EngineSettings:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    return EngineSettings(policy_file=policy, ticket_topic=TOPIC, dlq_topic="dlq", **changes)


def wired(
    tmp_path: Path,
    *,
    consumer: FakeConsumer | None = None,
    producer: FakeProducer | None = None,
    store: FakeStore | None = None,
    **changes: Any,
) -> EngineService:
    return bootstrap(
        settings_for(tmp_path, **changes),
        consumer=consumer or FakeConsumer(TOPIC),
        producer=producer or FakeProducer(),
        store=store or FakeStore(),
        clock=lambda: NOW,
        ensure_topics=no_topics,
    )


@pytest.fixture
def service(tmp_path: Path) -> EngineService:
    service = wired(tmp_path)
    service.parts[0] = OwnedPartition(PartitionEngine(0, service.policy), 0, 0)
    return service


@pytest.mark.parametrize("attribute", ["status", "priority", "department", "agent", "source"])
@pytest.mark.parametrize("value", [["x"], {"a": 1}, 5, True])
def test_ticket_text_attributes_must_be_text(attribute: str, value: object) -> None:
    with pytest.raises(DecodeError) as error:
        decode_ticket_event(event({attribute: value}))
    assert error.value.reason == "wrong_type"
    assert attribute in str(error.value)


def take(part: OwnedPartition, *records: FakeRecord) -> Outbox:
    outbox = Outbox()
    take_records(TOPIC, part, list(records), NOW, timedelta(days=1), outbox)
    return outbox


def test_a_time_beyond_the_future_tolerance_is_dead_lettered(service: EngineService) -> None:
    outbox = take(service.parts[0], FakeRecord(0, event(at=NOW + timedelta(days=3))))
    assert [d.error.reason for d in outbox.dead] == ["future_time"]
    assert "86400s ahead" in str(outbox.dead[0].error)
    assert outbox.events == []
    assert service.parts[0].next_offset == 1


async def test_a_clock_somewhat_ahead_is_clamped_and_counted_not_dead_lettered(
    service: EngineService,
) -> None:
    """Between the tolerance (5 min) and the rejection bound (1 day): applied at the wall clock,
    counted, and the watermark stays at the wall clock."""
    record = FakeRecord(0, event(at=NOW + timedelta(hours=2)))
    await service.process({TopicPartition(TOPIC, 0): [record]})
    await service.outputs.settle()
    producer = service.producer
    assert isinstance(producer, FakeProducer)
    started = [orjson.loads(v or b"") for v in producer.values("sla.events")]
    assert [e["type"] for e in started][:1] == ["sla.started"]
    assert started[0]["data"]["started_at"] == "2026-11-23T12:00:00Z"
    assert service.parts[0].engine.watermark_us <= to_us(NOW)
    assert service.metrics.future_clamped._value.get() == 1


ZONED_POLICY = """
calendars:
  customer-local:
    timezone: {from: customer_timezone, default: Europe/Oslo}
    hours: {mon-fri: ["08:00-18:00"]}
levels:
  standard:
    calendar: customer-local
    targets: {first_answer: 4h}
default_level: standard
"""


async def test_a_zone_fallback_is_counted_by_calendar_not_dead_lettered(tmp_path: Path) -> None:
    """A ticket without a usable customer_timezone is applied in the default zone and counted
    (sla_engine_timezone_fallbacks_total{calendar}); a wrong type is a bad record, as for any
    text attribute."""
    policy = tmp_path / "zoned.yaml"
    policy.write_text(ZONED_POLICY)
    service = bootstrap(
        EngineSettings(policy_file=policy, ticket_topic=TOPIC, dlq_topic="dlq"),
        consumer=FakeConsumer(TOPIC),
        producer=FakeProducer(),
        store=FakeStore(),
        clock=lambda: NOW,
        ensure_topics=no_topics,
    )
    service.parts[0] = OwnedPartition(PartitionEngine(0, service.policy), 0, 0)
    zones: list[object] = ["Asia/Kathmandoo", "America/Sao_Paulo", None, 545]
    records = [
        FakeRecord(
            n,
            encode_ticket_event(
                event_id=f"e-{n}",
                source="test",
                type="ticket.created",
                time=NOW,
                ticket_id=f"t-{n}",
                data={"ticket": {} if zone is None else {"customer_timezone": zone}},
            ),
            key=f"t-{n}".encode(),
        )
        for n, zone in enumerate(zones)
    ]
    await service.process({TopicPartition(TOPIC, 0): records})
    await service.outputs.settle()
    fallbacks = service.metrics.timezone_fallbacks.labels("customer-local")._value.get()
    assert fallbacks == 2
    assert service.metrics.dead_letters.labels("wrong_type")._value.get() == 1


class Exploding(PartitionEngine):
    def handle(self, event: TicketEvent, wall_clock: datetime) -> HandleResult:
        raise TypeError("unhashable type: 'list'")


async def test_a_record_the_domain_cannot_apply_is_dead_lettered_not_fatal(
    service: EngineService,
) -> None:
    service.parts[0] = OwnedPartition(Exploding(0, service.policy), 0, 0)
    await service.process({TopicPartition(TOPIC, 0): [FakeRecord(0, event())]})
    await service.outputs.settle()
    producer = service.producer
    assert isinstance(producer, FakeProducer)
    ((topic, _, key, value, headers),) = producer.sent
    assert (topic, key, value) == ("dlq", b"t-1", event())
    assert dict(headers)["__connect.errors.reason"] == b"unprocessable"
    assert b"TypeError" in dict(headers)["__connect.errors.exception.message"]
    assert service.metrics.dead_letters.labels("unprocessable")._value.get() == 1
    assert service.parts[0].next_offset == 1  # the partition goes on


async def test_an_oversized_dead_letter_goes_cut_to_size_with_its_length(tmp_path: Path) -> None:
    producer = FakeProducer()
    huge = b"x" * (MAX_EVENT_BYTES * 2)
    small = FakeRecord(1, b"{not json")
    outbox = Outbox(
        dead=[
            DeadLetter(FakeRecord(0, huge), DecodeError("too_large", "big"), TOPIC),
            DeadLetter(small, DecodeError("not_json", "bad"), TOPIC),
        ]
    )
    await send_outbox(producer, settings_for(tmp_path), outbox, NOW)
    (_, _, _, big_value, big_headers), (_, _, _, small_value, small_headers) = producer.sent
    assert big_value == huge[:MAX_EVENT_BYTES]
    assert dict(big_headers)["__connect.errors.value.truncated"] == str(len(huge)).encode()
    assert small_value == b"{not json"
    assert "__connect.errors.value.truncated" not in dict(small_headers)


async def test_a_batch_fetched_across_a_rebalance_is_dropped_and_fetched_again(
    service: EngineService,
) -> None:
    consumer = service.consumer
    assert isinstance(consumer, FakeConsumer)
    consumer.batches = [{TopicPartition(TOPIC, 0): [FakeRecord(9, event())]}]

    def rebalance_in_flight(fetch: int) -> None:
        if fetch == 1:  # the rebalance lands while this fetch is in flight: back to offset 5
            service.partitions.rebalances += 1
            service.parts[0].next_offset = 5
        else:
            service.stopping.set()

    consumer.on_fetch = rebalance_in_flight
    await service.run()
    assert consumer.seeks == [(0, 5)]  # fetch again from where the restored engine is
    assert service.parts[0].next_offset == 5  # records 5 to 8 were not skipped
    assert service.parts[0].engine.tickets == {}


async def test_a_restore_that_fails_is_retried_not_abandoned(tmp_path: Path) -> None:
    """A rebalance while the snapshots are out of reach (PostgreSQL down) must wait for them:
    a partition assigned without its engine would have its records fetched and skipped."""
    store = FakeStore(load_errors=[ConnectionRefusedError(111, "Connection refused")])
    service = wired(tmp_path, store=store)
    await service.partitions.on_partitions_assigned({TopicPartition(TOPIC, 2)})
    assert store.loads == 2
    assert sorted(service.parts) == [2]
    assert service.partitions.assigned_once


async def test_the_loop_emits_acknowledges_then_commits_and_snapshots_on_stop(
    tmp_path: Path,
) -> None:
    """One round of the whole loop on fakes: records in, SLA events out on both topics, the
    offsets committed after the acknowledgements, the state snapshotted at its offset."""
    consumer, producer, store = FakeConsumer(TOPIC), FakeProducer(), FakeStore()
    service = wired(tmp_path, consumer=consumer, producer=producer, store=store)
    await service.start()
    assert not service.ready
    assert consumer.listener is service.partitions
    await service.partitions.on_partitions_assigned({TopicPartition(TOPIC, 0)})
    assert service.ready
    consumer.batches = [
        {TopicPartition(TOPIC, 0): [FakeRecord(0, event(at=NOW - timedelta(hours=2)))]}
    ]
    consumer.on_fetch = lambda fetch: service.stopping.set() if fetch > 1 else None
    await service.run()
    await service.stop()
    types = [orjson.loads(v or b"")["type"] for v in producer.values("sla.events")]
    # first answer (10 min) and resolution (1 h) started two hours ago: both breached by now
    assert types.count("sla.started") == 2 and types.count("sla.breached") == 2
    breaches = [orjson.loads(v or b"")["type"] for v in producer.values("sla.breaches")]
    assert set(breaches) == {"sla.warning", "sla.breached"}
    assert consumer.commits == [{TopicPartition(TOPIC, 0): 1}]
    partition, offset, _, rows = store.saved[-1]
    assert (partition, offset, list(rows)) == (0, 1, ["t-1"])
    assert producer.stopped == 1


async def test_a_broker_that_refuses_idempotence_is_named_once_and_fails_readiness(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    producer = FakeProducer(start_errors=[UnknownError()])
    service = wired(tmp_path, producer=producer, kafka_idempotence=True)
    with caplog.at_level(logging.WARNING), pytest.raises(IdempotenceRefused):
        await service.start()
    assert producer.started == 1  # no retry: the broker answered
    assert "SLA_KAFKA_IDEMPOTENCE=false" in (service.problem or "")
    assert not service.ready
    said = [r for r in caplog.records if "SLA_KAFKA_IDEMPOTENCE=false" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.ERROR
    assert not [r for r in caplog.records if "retrying" in r.getMessage()]
    await service.stop()


async def test_a_broker_out_of_reach_is_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    producer = FakeProducer(start_errors=[KafkaConnectionError("Unable to bootstrap")])
    service = wired(tmp_path, producer=producer, kafka_idempotence=True)
    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(service.start(), 5)
    assert producer.started == 2
    assert service.problem is None
    assert any("retrying in 0.5s" in r.getMessage() for r in caplog.records)
    await service.stop()
