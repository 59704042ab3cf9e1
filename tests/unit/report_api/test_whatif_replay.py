"""The what-if replay against an oracle: the live path itself. The engine handles the stream,
its SLA events go through the codec as on Kafka, and the projection folds them all at once;
the replay, fed the same stream as archived records in chunks of any size, must give the very
same timer rows. The streams are the golden ones (late and repeated events, deletions, pauses,
escalations, reopenings), over one partition and over two."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from report_api.projection.handlers import TimerRow, fold_batch
from report_api.whatif.replay import Replay
from sla_core.codec import decode_sla_event, encode_sla_event, encode_ticket_event
from sla_core.events import TicketEvent
from sla_core.instants import to_us
from sla_core.partition.engine import PartitionEngine
from sla_core.policy import parse_policy
from tests.unit.test_golden import EMITTED, POLICY_TEXT, WALL, stream

GRACE_US = 2_000_000


def record(partition: int, event: TicketEvent) -> tuple[int, bytes, list[str], list[bytes]]:
    data: dict[str, Any] = {"ticket": event.ticket}
    if event.channel is not None:
        data["channel"] = event.channel
    if event.automated:
        data["automated"] = True
    value = encode_ticket_event(
        event_id=event.id,
        source=event.source,
        type=event.type,
        time=event.time,
        ticket_id=event.ticket_id,
        data=data,
    )
    return (partition, value, [], [])


def partition_of(ticket_id: str, partitions: int) -> int:
    return sum(ticket_id.encode()) % partitions


def verdicts(rows: dict[str, TimerRow]) -> dict[str, tuple[Any, ...]]:
    """What a row says, less its event keys (the live path's carry the engine's source)."""
    return {t: r._replace(event_keys=(), last_emitted_at=None) for t, r in rows.items()}


def live_rows(events: list[TicketEvent], partitions: int, now_us: int) -> dict[str, TimerRow]:
    """The live path: an engine per partition, the codec, one fold of everything."""
    policy = parse_policy(POLICY_TEXT)
    engines = {p: PartitionEngine(p, policy) for p in range(partitions)}
    emitted = []
    for event in events:
        emitted += engines[partition_of(event.ticket_id, partitions)].handle(event, WALL).outputs
    for engine in engines.values():
        emitted += engine.advance(max(engine.max_event_us, now_us - GRACE_US))
    decoded = [
        decode_sla_event(encode_sla_event(e, source="engine", emitted_at=EMITTED)) for e in emitted
    ]
    after = fold_batch(decoded, {}, ()).after
    return {t: r for t, r in after.items() if r is not None}


@pytest.mark.parametrize("partitions", [1, 2])
@pytest.mark.parametrize("seed", range(6))
def test_the_replay_gives_the_rows_of_the_live_path(seed: int, partitions: int) -> None:
    events = stream(seed)
    now = events[-1].time + timedelta(days=3)
    want = live_rows(events, partitions, to_us(now))
    assert {r.state for r in want.values()} >= {"fulfilled", "missed", "breached", "cancelled"}
    records = [record(partition_of(e.ticket_id, partitions), e) for e in events]
    rng = random.Random(seed)
    replay = Replay(parse_policy(POLICY_TEXT), wall_clock=WALL)
    i = 0
    while i < len(records):  # chunks of any size, as the job hands them over
        n = rng.choice([1, 3, 50, 400])
        replay.feed(records[i : i + n])
        i += n
    got = replay.finish(now, GRACE_US)
    assert replay.events_done == len(events)
    assert verdicts(got) == verdicts(want)


def test_a_deleted_tickets_timers_leave_and_later_events_are_dropped() -> None:
    t0 = stream(0)[0].time
    tid = "gone"
    events = [
        TicketEvent("1", "h", "ticket.created", t0, tid),
        TicketEvent("2", "h", "ticket.deleted", t0 + timedelta(minutes=5), tid),
        TicketEvent("3", "h", "ticket.created", t0 + timedelta(minutes=9), "kept"),
    ]
    replay = Replay(parse_policy(POLICY_TEXT), wall_clock=WALL)
    replay.feed([record(0, events[0])])
    assert {r.ticket_id for r in replay.rows.values()} == {tid}
    replay.feed([record(0, e) for e in events[1:]])
    rows = replay.finish(t0 + timedelta(minutes=10))
    assert {r.ticket_id for r in rows.values()} == {"kept"}
    assert replay.deleted == {tid}


def test_records_that_do_not_decode_are_skipped_and_counted() -> None:
    replay = Replay(parse_policy(POLICY_TEXT), wall_clock=WALL)
    replay.feed([(0, b"{not json", [], [])])
    assert (replay.events_done, replay.skipped, replay.rows) == (1, 1, {})


def test_finish_breaches_what_is_past_due_at_now_less_the_grace() -> None:
    t0 = stream(0)[0].time
    created = TicketEvent("1", "h", "ticket.created", t0, "t", {"department": "support"})
    policy = parse_policy(POLICY_TEXT)  # standard: first answer 1h, 24/7
    early = Replay(policy, wall_clock=WALL)
    early.feed([record(0, created)])
    due = t0 + timedelta(hours=1)
    states = {r.metric: r.state for r in early.finish(due + timedelta(seconds=1)).values()}
    assert states["first_answer"] == "running"  # within the grace
    late = Replay(policy, wall_clock=WALL)
    late.feed([record(0, created)])
    states = {r.metric: r.state for r in late.finish(due + timedelta(seconds=3)).values()}
    assert states["first_answer"] == "breached"


def test_older_versions_keep_the_tickets_created_before_the_newest_takes_effect() -> None:
    """The engine binds a ticket to the version in force at its first event (SPEC section 8);
    a replay given the older versions binds it the same way, so the live history of a policy
    with effective dates replays to itself."""
    t0 = stream(0)[0].time
    cut = t0 + timedelta(hours=1)
    old = parse_policy(
        "levels:\n  standard:\n    targets: {first_answer: 1h}\ndefault_level: standard\n"
    )
    new = parse_policy(
        "levels:\n  standard:\n    targets: {first_answer: 3h}\ndefault_level: standard\n"
        f"policy: {{effective_from: '{cut.isoformat()}'}}\n"
    )
    events = [
        TicketEvent("1", "h", "ticket.created", t0, "before"),
        TicketEvent("2", "h", "ticket.created", cut, "after"),
    ]
    replay = Replay(new, wall_clock=WALL, older=(old,))
    replay.feed([record(0, e) for e in events])
    rows = replay.finish(cut + timedelta(hours=4))
    targets = {r.ticket_id: (r.target_seconds, r.policy_version, r.state) for r in rows.values()}
    assert targets == {
        "before": (3600, old.version, "breached"),
        "after": (3 * 3600, new.version, "breached"),
    }
    alone = Replay(new, wall_clock=WALL)  # without the older version: both take the newest
    alone.feed([record(0, e) for e in events])
    assert {r.target_seconds for r in alone.finish(cut).values()} == {3 * 3600}
