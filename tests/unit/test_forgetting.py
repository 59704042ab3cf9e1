"""Bounded state (SPEC section 10): a closed or deleted ticket is forgotten once its reopen
window has passed in event time; an event for a forgotten ticket is dead-lettered, never
restarted under timer ids already used; the duplicate window is a setting.

Times are event times; the watermark is driven explicitly, never a clock.
"""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from sla_core.codec import encode_sla_event, encode_ticket_event
from sla_core.events import SlaEvent, TicketEvent
from sla_core.partition.engine import PartitionEngine, to_us
from sla_core.policy import parse_policy
from sla_engine.intake import Outbox, OwnedPartition, take_records
from tests.support.fakes import FakeRecord, FakeStore
from tests.support.snapshots import round_trip
from tests.unit.test_engine_shell import TOPIC, wired

WINDOW = timedelta(hours=2)
POLICY = parse_policy(
    """
levels:
  std:
    targets: {first_answer: 1h, next_answer: 1h, resolution: 8h}
default_level: std
policy: {reopen_window: 2h}
"""
)
T0 = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
WALL = datetime(2031, 1, 1, tzinfo=UTC)
US = 1_000_000


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


class Feed:
    """One partition engine fed ticket events with unique ids."""

    def __init__(self, engine: PartitionEngine | None = None) -> None:
        self.engine = engine or PartitionEngine(0, POLICY)
        self.n = 0
        self.out: list[SlaEvent] = []
        self.forgotten: list[str] = []

    def send(self, type_: str, when: datetime, tid: str = "T", **ticket: Any) -> list[SlaEvent]:
        self.n += 1
        event = TicketEvent(f"e{self.n}", "test", type_, when, tid, ticket)
        return self.apply(event)

    def apply(self, event: TicketEvent) -> list[SlaEvent]:
        result = self.engine.handle(event, WALL)
        if result.forgotten:
            self.forgotten.append(event.id)
        self.out += result.outputs
        return result.outputs

    def advance(self, when: datetime, extra_us: int = 0) -> list[SlaEvent]:
        got = self.engine.advance(to_us(when) + extra_us)
        self.out += got
        return got


def closed_ticket(feed: Feed, tid: str = "T") -> datetime:
    feed.send("ticket.created", at(0), tid)
    feed.send("ticket.answered", at(10), tid)
    feed.send("ticket.closed", at(20), tid)
    return at(20)


def test_a_closed_ticket_is_kept_until_its_window_has_passed_then_forgotten() -> None:
    feed = Feed()
    closed = closed_ticket(feed)
    feed.advance(closed + WINDOW, -1)
    assert "T" in feed.engine.tickets
    feed.advance(closed + WINDOW)
    assert feed.engine.tickets == {}
    assert feed.engine.forgotten_unsaved == {"T"}
    assert "T" not in feed.engine.dirty
    snapshot = feed.engine.begin_snapshot()
    assert snapshot.forgotten == {"T"} and "T" not in snapshot.ticket_ids()
    feed.engine.snapshot_saved(snapshot)
    assert feed.engine.forgotten_unsaved == set()  # the store answers for it from now on


def test_a_reopen_within_the_window_continues_the_ticket_with_new_cycles() -> None:
    feed = Feed()
    closed = closed_ticket(feed)
    out = feed.send("ticket.reopened", closed + WINDOW - timedelta(seconds=1))
    assert [e.data.timer_id for e in out] == ["T:next_answer:1", "T:resolution:2"]
    feed.send("ticket.closed", closed + WINDOW + timedelta(minutes=5))
    feed.advance(closed + 2 * WINDOW)  # the first window's end is stale: a later close counts
    assert "T" in feed.engine.tickets
    feed.advance(closed + 2 * WINDOW + timedelta(minutes=5))
    assert feed.engine.tickets == {}


@pytest.mark.parametrize("kind", ["ticket.reopened", "ticket.customer_replied", "ticket.created"])
def test_an_event_after_the_window_is_refused_never_restarted_under_used_ids(kind: str) -> None:
    feed = Feed()
    closed = closed_ticket(feed)
    # an old ticket.created re-sent, or a reopen or a reply that came too late
    when = at(0) if kind == "ticket.created" else closed + WINDOW + timedelta(minutes=1)
    feed.advance(closed + WINDOW + timedelta(seconds=1))
    assert feed.send(kind, when) == []
    assert feed.forgotten == [f"e{feed.n}"]
    assert feed.engine.tickets == {}  # no phantom ticket, no new timers or breaches
    feed.advance(closed + 30 * WINDOW)
    assert [e for e in feed.out if e.time > closed] == []


def test_the_event_whose_time_passes_the_window_is_itself_refused() -> None:
    """The event's own watermark move forgets the ticket first: it must not be reborn."""
    feed = Feed()
    closed = closed_ticket(feed)
    assert feed.send("ticket.customer_replied", closed + WINDOW + timedelta(seconds=1)) == []
    assert feed.forgotten == [f"e{feed.n}"] and feed.engine.tickets == {}


def test_a_deleted_ticket_is_forgotten_after_the_window_too() -> None:
    feed = Feed()
    feed.send("ticket.created", at(0))
    feed.send("ticket.deleted", at(5))
    feed.advance(at(5) + WINDOW)
    assert feed.engine.tickets == {} and feed.engine.forgotten_unsaved == {"T"}


def test_an_open_ticket_or_a_closed_one_with_a_running_timer_is_never_forgotten() -> None:
    feed = Feed()
    feed.send("ticket.created", at(0), "open")
    closed = closed_ticket(feed, "replied")
    feed.send("ticket.customer_replied", closed + timedelta(minutes=1), "replied")  # starts a timer
    feed.advance(closed + 50 * WINDOW)
    assert set(feed.engine.tickets) == {"open", "replied"}
    feed.send("ticket.answered", closed + 50 * WINDOW, "replied")  # the close is long past
    feed.advance(closed + 50 * WINDOW + timedelta(seconds=1))
    assert set(feed.engine.tickets) == {"open"}


def live_run(cut: int | None) -> tuple[list[bytes], list[str]]:
    """A stream of tickets closing and coming back; `cut` snapshots and restores after that
    event (the restored tickets stay packed until their alarm, the forget one included)."""
    feed = Feed()
    events = []
    for i in range(6):
        tid = f"T{i}"
        base = at(30 * i)
        # closed at 9 min: odd tickets come back a minute inside their window, even ones out
        reopen_after = timedelta(minutes=9) + WINDOW + timedelta(minutes=1 if i % 2 == 0 else -1)
        events += [
            TicketEvent(f"{tid}-c", "p", "ticket.created", base, tid, {}),
            TicketEvent(f"{tid}-a", "p", "ticket.answered", base + timedelta(minutes=3), tid),
            TicketEvent(f"{tid}-x", "p", "ticket.closed", base + timedelta(minutes=9), tid),
            TicketEvent(f"{tid}-r", "p", "ticket.reopened", base + reopen_after, tid),
        ]
    events.sort(key=lambda e: e.time)
    for n, event in enumerate(events):
        feed.apply(event)
        if n == cut:
            feed.engine = round_trip(feed.engine)
    feed.advance(at(0) + 40 * WINDOW)
    emitted = [encode_sla_event(e, source="t", emitted_at=WALL) for e in feed.out]
    return emitted, feed.forgotten


@pytest.mark.parametrize("cut", [2, 5, 11, 17, 22])
def test_forgetting_happens_at_the_same_instant_after_a_restore(cut: int) -> None:
    live = live_run(None)
    assert live[1] != [] and len(live[1]) < 6  # some reopens came in time, some too late
    assert live_run(cut) == live


def test_the_duplicate_window_is_a_setting_and_holds_at_its_edge() -> None:
    engine = PartitionEngine(0, POLICY, dedup_window=3)
    feed = Feed(engine)
    first = TicketEvent("dup", "test", "ticket.customer_replied", at(0), "T", {})
    feed.send("ticket.created", at(0))
    feed.apply(first)  # the created event, then this: 2 of 3 remembered
    feed.send("ticket.answered", at(1))
    feed.send("ticket.updated", at(2))  # 3 events after it: `dup` is still the oldest kept
    assert feed.apply(first) == []  # a duplicate
    feed.send("ticket.updated", at(3))
    feed.send("ticket.updated", at(4))
    feed.send("ticket.updated", at(5))  # now 3 others after it: it has left the window
    assert [e.data.timer_id for e in feed.apply(first)] == ["T:next_answer:1"]


def test_the_store_is_asked_only_about_tickets_that_may_have_been_forgotten() -> None:
    feed = Feed()
    closed_ticket(feed, "held")
    feed.advance(at(0) + 10 * WINDOW)
    engine = feed.engine

    def event(type_: str, when: datetime, tid: str) -> TicketEvent:
        return TicketEvent("x", "p", type_, when, tid, {})

    now = at(0) + 10 * WINDOW
    asked = engine.may_be_forgotten(
        [
            event("ticket.created", now, "fresh"),  # a new ticket: no question
            event("ticket.created", now - WINDOW - timedelta(seconds=1), "old"),  # re-sent?
            event("ticket.customer_replied", now, "unknown"),
            event("ticket.customer_replied", now, "held"),  # forgotten in memory already
        ]
    )
    assert asked == {"old", "unknown"}


def test_memory_and_rows_stay_flat_while_a_year_of_tickets_passes() -> None:
    """40 tickets a day for a year, each created, answered and closed: the engine holds only
    those closed within the window, and its memory does not grow with the days."""
    engine = PartitionEngine(0, POLICY)
    feed = Feed(engine)
    rows: dict[str, bytes] = {}  # the snapshot table, as the store keeps it
    held, sizes = [], []
    tracemalloc.start()
    try:
        for day in range(365):
            start = T0 + timedelta(days=day)
            for i in range(40):
                tid = f"d{day}-{i}"
                when = start + timedelta(minutes=30 * i)
                feed.send("ticket.created", when, tid)
                feed.send("ticket.answered", when + timedelta(minutes=5), tid)
                feed.send("ticket.closed", when + timedelta(minutes=10), tid)
            feed.advance(start + timedelta(days=1))
            snapshot = engine.begin_snapshot()
            engine.fill_snapshot(len(snapshot.waiting))
            rows.update((tid, row.state) for tid, row in snapshot.rows.items())
            for tid in snapshot.forgotten:
                rows.pop(tid, None)  # forgotten before any snapshot held it: no row
            engine.snapshot_saved(snapshot)
            feed.out.clear()
            if day in (60, 364):
                held.append((len(engine.tickets), len(rows), engine.open_alarms))
                sizes.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    # the last day's closes are within the window (2 h): at most a few tickets held
    assert held[0] == held[1] and held[1][0] <= 40 and held[1][1] == held[1][0]
    assert sizes[1] - sizes[0] < 64 * 1024, f"grew {sizes[1] - sizes[0]} B over 300 days"


async def test_the_loop_dead_letters_an_event_for_a_ticket_the_store_forgot(
    tmp_path: Path,
) -> None:
    store = FakeStore()
    store.forgotten_ids[0] = {"gone"}
    service = wired(tmp_path, store=store)
    service.parts[0] = OwnedPartition(PartitionEngine(0, service.policy), 0, 0)
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def record(offset: int, type_: str, tid: str, when: datetime) -> FakeRecord:
        value = encode_ticket_event(
            event_id=f"{tid}-{offset}", source="t", type=type_, time=when, ticket_id=tid, data={}
        )
        return FakeRecord(offset, value, key=tid.encode())

    batch = [
        record(0, "ticket.created", "new", now),
        record(1, "ticket.customer_replied", "gone", now),
    ]
    await service.process({TopicPartition(TOPIC, 0): batch})
    await service.outputs.settle()
    assert store.lookups == [{"gone"}]  # the new ticket's created event asked nothing
    assert service.metrics.dead_letters.labels("forgotten")._value.get() == 1
    assert set(service.parts[0].engine.tickets) == {"new"}


def test_take_records_turns_a_forgotten_ticket_into_a_dead_letter() -> None:
    feed = Feed()
    closed = closed_ticket(feed)
    feed.advance(closed + WINDOW)
    part = OwnedPartition(feed.engine, 0, 0)
    value = encode_ticket_event(
        event_id="late", source="t", type="ticket.reopened", time=closed + 2 * WINDOW,
        ticket_id="T", data={},
    )  # fmt: skip
    outbox = Outbox()
    take_records(TOPIC, part, [FakeRecord(0, value, key=b"T")], WALL, timedelta(days=1), outbox)
    assert [d.error.reason for d in outbox.dead] == ["forgotten"]
    assert "reopen window" in str(outbox.dead[0].error)
