"""The real servers the suite runs against: a round trip through the broker and PostgreSQL."""

from __future__ import annotations

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from sla_devtools.infra import Infra


async def test_broker_round_trip_with_headers_and_consumer_group(infra: Infra, unique: str) -> None:
    topic = f"roundtrip-{unique}"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for i in range(30):
            await producer.send_and_wait(
                topic, key=f"t{i % 5}".encode(), value=f"v{i}".encode(), headers=[("h", b"x")]
            )
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.bootstrap_servers,
        group_id=f"g-{unique}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    seen: list[tuple[bytes, bytes]] = []
    try:
        while len(seen) < 30:
            batch = await consumer.getmany(timeout_ms=2000)
            for records in batch.values():
                seen.extend((r.key or b"", r.value or b"") for r in records)
                assert all(r.headers == (("h", b"x"),) for r in records)
            await consumer.commit()
    finally:
        await consumer.stop()
    assert sorted(v for _, v in seen) == sorted(f"v{i}".encode() for i in range(30))
    # one key stays on one partition, in order
    by_key: dict[bytes, list[int]] = {}
    for k, v in seen:
        by_key.setdefault(k, []).append(int(v[1:]))
    assert all(vals == sorted(vals) for vals in by_key.values())


async def test_postgres_write_and_read(infra: Infra, unique: str) -> None:
    conn = await asyncpg.connect(infra.database_url)
    try:
        await conn.execute(f"CREATE TABLE t_{unique} (id int primary key, v text)")
        await conn.executemany(f"INSERT INTO t_{unique} VALUES ($1, $2)", [(1, "a"), (2, "b")])
        assert await conn.fetch(f"SELECT v FROM t_{unique} ORDER BY id") == [("a",), ("b",)]
        assert (await conn.fetchval("SHOW server_version")).startswith("18")
    finally:
        await conn.close()


def test_up_twice_is_harmless_and_a_taken_port_is_named(infra: Infra, tmp_path) -> None:
    infra.up()  # already running: nothing happens
    assert infra.status() == {"postgres": True, "broker": True}
    other = Infra(run_dir=tmp_path, pg_port=infra.pg_port, kafka_port=infra.kafka_port)
    import pytest

    from sla_devtools.infra import InfraError

    with pytest.raises(InfraError, match=str(infra.kafka_port)):
        other.broker_up()
