"""Snapshot rows in the real PostgreSQL: what a restore reads, in the current form and the old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import orjson

from sla_core.events import TicketEvent
from sla_core.partition.engine import PartitionEngine
from sla_core.policy import parse_policy
from sla_devtools.infra import Infra
from sla_engine.adapters.snapshots import SnapshotStore

POLICY = parse_policy(
    """
levels:
  standard:
    targets: {first_answer: 1h, resolution: 8h}
default_level: standard
"""
)
T0 = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)

# engine_tickets as the first release created it: no alarm_us, no running
OLD_SCHEMA = """
CREATE TABLE engine_partitions (
    group_id text NOT NULL, topic text NOT NULL, partition integer NOT NULL,
    next_offset bigint NOT NULL, meta jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
CREATE TABLE engine_tickets (
    group_id text NOT NULL, topic text NOT NULL, partition integer NOT NULL,
    ticket_id text NOT NULL, state bytea NOT NULL,
    PRIMARY KEY (group_id, topic, partition, ticket_id)
);
"""


def engine_with(*tickets: str) -> PartitionEngine:
    engine = PartitionEngine(0, POLICY)
    for n, tid in enumerate(tickets):
        at = T0 + timedelta(minutes=n)
        engine.handle(TicketEvent(f"e{n}", "test", "ticket.created", at, tid, {}), at)
    return engine


async def test_rows_carry_their_alarm_so_a_restore_leaves_them_packed(
    infra: Infra, unique: str
) -> None:
    store = SnapshotStore(infra.database_url, f"g-{unique}", f"t-{unique}")
    await store.start()
    try:
        engine = engine_with("A", "B")
        await store.save(0, 2, engine.meta(), engine.take_dirty())
        loaded = await store.load(0)
    finally:
        await store.close()
    assert loaded is not None
    offset, meta, rows = loaded
    assert offset == 2
    assert sorted((tid, alarm, running) for tid, _, alarm, running in rows) == [
        ("A", int((T0 + timedelta(hours=1)).timestamp() * 1e6), 2),
        ("B", int((T0 + timedelta(hours=1, minutes=1)).timestamp() * 1e6), 2),
    ]
    restored = PartitionEngine.restore(0, POLICY, meta, rows)
    assert (restored.packed, restored.open_timers) == (2, 4)
    assert restored.next_alarm_us() == engine.next_alarm_us()


async def test_a_table_of_the_first_release_is_upgraded_and_its_rows_still_restore(
    infra: Infra, unique: str
) -> None:
    schema = f"old_{unique}"
    conn = await asyncpg.connect(infra.database_url)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}; SET search_path TO {schema};" + OLD_SCHEMA)
        engine = engine_with("A")
        state = engine.take_dirty()["A"].state
        await conn.execute(
            "INSERT INTO engine_partitions VALUES ('g', 't', 0, 1, $1::jsonb)",
            orjson.dumps({"watermark_us": engine.watermark_us}).decode(),
        )
        await conn.execute("INSERT INTO engine_tickets VALUES ('g', 't', 0, 'A', $1)", state)
    finally:
        await conn.close()

    store = SnapshotStore(f"{infra.database_url}?search_path={schema}", "g", "t")
    await store.start()  # adds the columns
    try:
        loaded = await store.load(0)
        assert loaded is not None
        _, meta, rows = loaded
        assert [tuple(r) for r in rows] == [("A", state, None, None)]
        restored = PartitionEngine.restore(0, POLICY, meta, rows)
        assert (restored.packed, restored.open_timers) == (0, 2)  # decoded at once
        assert restored.next_alarm_us() == engine.next_alarm_us()

        again = engine_with("A", "B")
        await store.save(0, 2, again.meta(), again.take_dirty())  # the new form, same table
        loaded = await store.load(0)
        assert loaded is not None
        restored = PartitionEngine.restore(0, POLICY, loaded[1], loaded[2])
        assert (restored.packed, restored.open_timers) == (2, 4)
    finally:
        await store.close()
