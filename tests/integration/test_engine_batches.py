"""The engine's record batches against the real broker: batches that fill up, a record too big
for any batch, and every record on its key's partition, in order."""

from __future__ import annotations

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from sla_devtools.infra import Infra
from sla_engine.adapters.kafka import RecordBatches
from tests.support.kafka import TopicReader, create_topics


async def test_full_batches_and_an_oversized_record_keep_partition_and_order(
    infra: Infra, unique: str
) -> None:
    topic = f"batches-{unique}"
    await create_topics(infra.bootstrap_servers, topic, partitions=3)
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        max_batch_size=16 * 1024,  # small, so batches fill up many times
    )
    await producer.start()
    sent: list[tuple[bytes, int]] = []
    try:
        batches = RecordBatches(producer)
        padding = "x" * 1000
        for n in range(600):
            key = f"ticket-{n % 7}".encode()
            size = 40_000 if n == 300 else 0  # one record bigger than a whole batch
            await batches.put(topic, key, orjson.dumps({"n": n, "pad": padding + "y" * size}))
            sent.append((key, n))
        for future in await batches.flush():
            await future
    finally:
        await producer.stop()

    async with TopicReader(infra.bootstrap_servers, topic) as reader:
        await reader.wait_for(lambda events: len(events) == len(sent), within=30)
    partitioner = DefaultPartitioner()
    seen: dict[bytes, list[int]] = {}
    for record in reader.records:
        assert record.partition == partitioner(record.key, [0, 1, 2], [0, 1, 2])
        seen.setdefault(record.key, []).append(orjson.loads(record.value)["n"])
    expected: dict[bytes, list[int]] = {}
    for key, n in sent:
        expected.setdefault(key, []).append(n)
    assert seen == expected  # every record once, each key's records in the order sent
