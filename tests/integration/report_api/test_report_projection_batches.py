"""`store.commit_batch` against a real PostgreSQL: the batch's rows go in by COPY after one
statement deletes what they replace, so these tests check what that must keep: a re-delivered
event changes nothing (in the same batch or a later one), a correction in the batch of the
original, a failure anywhere rolls back rows and offsets alike, and, over random streams cut into
random batches, the tables equal those of one event per batch and every rollup row equals its
recomputation from `sla_timers`."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest

from report_api.projection.events import parse_event
from report_api.projection.handlers import COLUMNS, SEGMENT_COLUMNS
from report_api.projection.store import Partition, PositionConflict, commit_batch
from report_api.rollups import ROLLUPS, STAT_COLUMNS, fill_sql
from report_api.testing import create_database, encode, sla_event
from sla_core.events import OwnershipSegment, SlaEvent
from sla_devtools.infra import Infra

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture
async def conn(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    url = await create_database(infra.database_url, f"batches_{uuid.uuid4().hex[:10]}")
    connection = await asyncpg.connect(url)
    try:
        yield connection
    finally:
        await connection.close()


class Feed:
    """Commits batches of one partition, keeping its offsets as the runner does."""

    def __init__(self, conn: asyncpg.Connection, topic: str = "sla") -> None:
        self.conn = conn
        self.partition = Partition(topic, 0)
        self.offset: int | None = None

    async def commit(self, events: Sequence[SlaEvent], conn: Any = None) -> None:
        nxt = (self.offset or 0) + len(events)
        await commit_batch(
            conn or self.conn, events, {self.partition: nxt}, {self.partition: self.offset}
        )
        self.offset = nxt


def event(
    type_: str,
    ticket: str,
    minute: int,
    *,
    holders: Sequence[tuple[str, str]] = (),
    **kw: Any,
) -> SlaEvent:
    """An SLA event `minute` minutes after T0 (the timer started at T0), carrying ownership
    segments when `holders` ((agent, team) in order) are given."""
    at = T0 + minute * MINUTE
    built = sla_event(type_, ticket, time=at, started=T0, **kw)  # type: ignore[arg-type]
    if holders:
        step = (at - T0) / len(holders)
        segments = [
            OwnershipSegment(
                agent=agent,
                team=team,
                started_at=T0 + n * step,
                ended_at=T0 + (n + 1) * step,
                business_seconds=step.total_seconds(),
            )
            for n, (agent, team) in enumerate(holders)
        ]
        data = msgspec.structs.replace(built.data, segments=segments, team=holders[-1][1])
        built = msgspec.structs.replace(built, data=data)
    return parse_event(encode(built))


async def snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
    """Every projection table's rows, in a stable order (rollup rows without any count left out:
    a delta can leave a row at zero, which a recomputation would not write)."""
    out: dict[str, Any] = {
        "timers": [
            tuple(r)
            for r in await conn.fetch(
                f"SELECT {', '.join(COLUMNS)} FROM sla_timers ORDER BY timer_id"
            )
        ],
        "segments": [
            tuple(r)
            for r in await conn.fetch(
                f"SELECT {', '.join(SEGMENT_COLUMNS)} FROM sla_segments ORDER BY timer_id, n"
            )
        ],
        "deleted": [
            tuple(r) for r in await conn.fetch("SELECT * FROM deleted_tickets ORDER BY ticket_id")
        ],
        "offsets": [
            tuple(r)
            for r in await conn.fetch(
                "SELECT topic, partition, next_offset FROM projection_offsets ORDER BY topic"
            )
        ],
    }
    for spec in ROLLUPS:
        out[spec.table] = await _rollup_rows(conn, spec.table, spec.key)
    return out


async def _rollup_rows(conn: asyncpg.Connection, source: str, key: Sequence[str]) -> list[Any]:
    rows = await conn.fetch(
        f"SELECT {', '.join(key)}, {', '.join(STAT_COLUMNS)} FROM {source} "
        "WHERE fulfilled_count <> 0 OR missed_count <> 0 OR missed_ended_count <> 0 "
        f"ORDER BY {', '.join(key)}"
    )
    return [tuple(r) for r in rows]


async def recomputed_rollups(conn: asyncpg.Connection) -> dict[str, Any]:
    """Every rollup table as a recomputation from `sla_timers` would fill it (`fill_sql`, the
    migration's and the rebuild's definition, attribution included)."""
    out = {}
    for spec in ROLLUPS:
        scratch = f"recomputed_{spec.table}"
        await conn.execute(f"CREATE TEMP TABLE {scratch} (LIKE {spec.table})")
        try:
            await conn.execute(fill_sql(spec, into=scratch))
            out[spec.table] = await _rollup_rows(conn, scratch, spec.key)
        finally:
            await conn.execute(f"DROP TABLE {scratch}")
    return out


def timer(snap: dict[str, Any], timer_id: str) -> dict[str, Any]:
    rows = [dict(zip(COLUMNS, r, strict=True)) for r in snap["timers"] if r[0] == timer_id]
    assert len(rows) == 1, rows
    return rows[0]


async def test_a_redelivered_event_changes_nothing_in_its_batch_or_a_later_one(
    conn: asyncpg.Connection,
) -> None:
    feed = Feed(conn)
    started = event("sla.started", "D1", 0)
    breached = event("sla.breached", "D1", 60, holders=[("ann", "A")])
    missed = event("sla.missed", "D1", 90, holders=[("ann", "A"), ("bob", "B")])
    await feed.commit([started, started, breached, started, breached, missed, missed])
    first = await snapshot(conn)
    row = timer(first, "D1:first_answer:1")
    assert row["state"] == "missed" and len(row["event_keys"]) == 3
    assert [s[3] for s in first["segments"]] == ["ann", "bob"]
    await feed.commit([started, breached, missed])
    again = await snapshot(conn)
    assert {k: v for k, v in again.items() if k != "offsets"} == {
        k: v for k, v in first.items() if k != "offsets"
    }
    assert again["offsets"] == [("sla", 0, 10)]


async def test_a_correction_in_the_batch_of_the_original_equals_it_in_batches_of_its_own(
    infra: Infra, conn: asyncpg.Connection
) -> None:
    events = [
        event("sla.started", "C1", 0, department="support", agent="ann"),
        event("sla.started", "C2", 0, department="support", agent="ann"),
        event("sla.missed", "C1", 70, holders=[("ann", "A")], department="support", agent="ann"),
        event("sla.fulfilled", "C2", 20, holders=[("ann", "A")], department="support"),
        event(
            "sla.fulfilled",
            "C1",
            80,
            holders=[("ann", "A"), ("bob", "B")],
            corrects_breach=True,
            department="sales",
            agent="bob",
        ),
    ]
    await Feed(conn).commit(events)
    together = await snapshot(conn)
    corrected = timer(together, "C1:first_answer:1")
    assert corrected["state"] == "fulfilled" and corrected["corrected"]
    assert corrected["department"] == "sales"
    assert {k: v for k, v in together.items() if k.startswith("rollup")} == (
        await recomputed_rollups(conn)
    )

    url = await create_database(infra.database_url, f"batches_{uuid.uuid4().hex[:10]}")
    other = await asyncpg.connect(url)
    try:
        feed = Feed(other)
        for e in events:
            await feed.commit([e])
        apart = await snapshot(other)
    finally:
        await other.close()
    assert {k: v for k, v in apart.items() if k != "offsets"} == {
        k: v for k, v in together.items() if k != "offsets"
    }


class FailingConnection:
    """An asyncpg connection whose call number `fail_at` (counting execute, fetch and COPY)
    raises, as a database that goes away mid-batch would."""

    def __init__(self, conn: asyncpg.Connection, fail_at: int) -> None:
        self._conn = conn
        self._calls = 0
        self._fail_at = fail_at
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._conn, name)
        if name not in {"execute", "fetch", "copy_records_to_table"}:
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            self._calls += 1
            if self._calls == self._fail_at:
                self.failed = True
                raise asyncpg.InterfaceError(f"call {self._calls} failed ({name})")
            return await target(*args, **kwargs)

        return call


async def test_a_batch_that_fails_at_any_step_leaves_rows_and_offsets_as_they_were(
    conn: asyncpg.Connection,
) -> None:
    feed = Feed(conn)
    await feed.commit(
        [
            event("sla.started", "F1", 0),
            event("sla.started", "F2", 0),
            event("sla.started", "F3", 0),
        ]
    )
    before = await snapshot(conn)
    batch = [
        event("sla.missed", "F1", 70, holders=[("ann", "A")]),
        event("sla.fulfilled", "F1", 75, holders=[("bob", "B")], corrects_breach=True),
        event("sla.fulfilled", "F2", 30, holders=[("ann", "A")]),
        event("sla.cancelled", "F3", 40, ticket_deleted=True),
        event("sla.started", "F4", 40),
    ]
    step = 1
    while True:
        failing = FailingConnection(conn, step)
        try:
            await feed.commit(batch, failing)
        except asyncpg.InterfaceError:
            assert await snapshot(conn) == before, f"failing call {step}"
            step += 1
            continue
        break
    assert step > 5  # every read and write of the batch failed once
    after = await snapshot(conn)
    assert timer(after, "F1:first_answer:1")["state"] == "fulfilled"
    assert [r for r in after["timers"] if r[1] == "F3"] == []
    assert after["deleted"][0][0] == "F3"
    assert after["offsets"] == [("sla", 0, 8)]
    assert {k: v for k, v in after.items() if k.startswith("rollup")} == (
        await recomputed_rollups(conn)
    )


async def test_a_stale_position_writes_nothing(conn: asyncpg.Connection) -> None:
    feed = Feed(conn)
    await feed.commit([event("sla.started", "P1", 0)])
    before = await snapshot(conn)
    feed.offset = 0  # a zombie's belief
    with pytest.raises(PositionConflict):
        await feed.commit([event("sla.fulfilled", "P1", 10, holders=[("ann", "A")])])
    assert await snapshot(conn) == before


KINDS = (
    *("sla.warning", "sla.paused", "sla.retargeted", "sla.breached"),
    *("sla.fulfilled", "sla.missed", "sla.cancelled"),
    *("fix", "delete", "again"),  # a corrected breach, a deleted ticket, a re-delivery
)


def random_stream(rng: random.Random, tickets: int) -> list[SlaEvent]:
    """Random lifecycles of two timers per ticket, interleaved across tickets in ticket order:
    holders and departments that change, breaches, endings, corrections, deletions, events
    whose ticket is gone, and re-deliveries of earlier events."""
    per_ticket: list[list[SlaEvent]] = []
    for n in range(tickets):
        ticket = f"R{n}"
        out: list[SlaEvent] = []
        minute = 0
        holders: list[tuple[str, str]] = []
        for metric in ("first_answer", "resolution"):
            out.append(event("sla.started", ticket, 0, metric=metric))
        for _ in range(rng.randint(1, 7)):
            minute += rng.randint(1, 50)
            agent = rng.choice(["ann", "bob", "cy", None])
            holders.append((agent or "-", rng.choice(["A", "B"])))
            kind = rng.choice(KINDS)
            metric = rng.choice(["first_answer", "resolution"])
            common: dict[str, Any] = {
                "metric": metric,
                "department": rng.choice(["support", "sales", None]),
                "agent": agent,
            }
            if kind == "again" and out:
                out.append(rng.choice(out))
            elif kind == "delete":
                if rng.random() < 0.3:
                    out.append(event("sla.cancelled", ticket, minute, ticket_deleted=True))
            elif kind == "fix":
                out.append(
                    event(
                        "sla.fulfilled",
                        ticket,
                        minute,
                        holders=holders,
                        corrects_breach=True,
                        **common,
                    )
                )
            elif kind in {"sla.breached", "sla.fulfilled", "sla.missed"}:
                out.append(event(kind, ticket, minute, holders=holders, **common))
            else:
                out.append(event(kind, ticket, minute, **common))
        per_ticket.append(out)
    stream: list[SlaEvent] = []
    while any(per_ticket):
        source = rng.choice([t for t in per_ticket if t])
        stream.append(source.pop(0))
    return stream


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_random_streams_in_random_batches_equal_one_event_per_batch(
    infra: Infra, seed: int
) -> None:
    rng = random.Random(seed)
    stream = random_stream(rng, tickets=12)
    results = []
    for cut in ("one by one", "random batches"):
        url = await create_database(infra.database_url, f"batches_{uuid.uuid4().hex[:10]}")
        conn = await asyncpg.connect(url)
        try:
            feed = Feed(conn)
            i = 0
            while i < len(stream):
                size = 1 if cut == "one by one" else rng.randint(1, 25)
                await feed.commit(stream[i : i + size])
                i += size
                if cut != "one by one":
                    snap = await snapshot(conn)
                    assert {k: v for k, v in snap.items() if k.startswith("rollup")} == (
                        await recomputed_rollups(conn)
                    ), f"rollups after {i} events"
            snap = await snapshot(conn)
            results.append({k: v for k, v in snap.items() if k != "offsets"})
            assert snap["offsets"] == [("sla", 0, len(stream))]
        finally:
            await conn.close()
    assert results[0] == results[1]
    assert results[0]["timers"] and results[0]["segments"]
