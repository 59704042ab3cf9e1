"""The engine's domain: the per-ticket timer state machine driven through PartitionEngine.

Times in these tests are event times; the watermark is driven explicitly, never a clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from msgspec import UNSET
from msgspec.structs import replace

from sla_core.codec import decode_sla_event, encode_sla_event
from sla_core.events import REPORTED_ATTRIBUTES, SlaEvent, SlaEventData, TicketEvent
from sla_core.partition.engine import PartitionEngine, to_us
from sla_core.partition.rows import SnapshotError
from sla_core.policy import parse_policy
from sla_core.timers import state_from_dict, state_to_dict
from tests.support.snapshots import all_rows, round_trip

POLICY = """
calendars:
  oslo-office:
    timezone: Europe/Oslo
    hours: {mon-fri: ["09:00-17:00"]}
levels:
  standard:
    targets: {first_answer: 1h, next_answer: 2h, chat_answer: 2m, call_answer: 30s, resolution: 8h}
    warnings: ["75%", "10m"]
    pause_when_status: [pending]
  gold:
    targets: {first_answer: 30m, next_answer: 1h}
  office:
    calendar: oslo-office
    targets: {first_answer: 4h}
default_level: standard
rules:
  - name: office hours for the office department
    when: {field: department, op: eq, value: office}
    then: {set_level: office, stop: true}
  - name: VIP
    when:
      all:
        - {field: customer_group, op: eq, value: VIP}
        - {field: priority, op: in, value: [high, urgent]}
    then: {set_level: gold}
"""

T0 = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)  # a Monday
WALL = datetime(2030, 1, 1, tzinfo=UTC)  # far ahead: replaying history, nothing is "future"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def as_emitted(events: list[SlaEvent]) -> list[SlaEvent]:
    """The events as a consumer sees them: through the codec's JSON and back, which changes
    nothing but the stamps."""
    out = []
    for e in events:
        decoded = decode_sla_event(encode_sla_event(e, source="test", emitted_at=WALL))
        assert decoded == replace(e, source="test", data=replace(e.data, emitted_at=WALL))
        out.append(decoded)
    return out


class Driver:
    """Feeds events to one partition engine and collects what it emits."""

    def __init__(self, policy_text: str = POLICY) -> None:
        self.policy = parse_policy(policy_text)
        self.engine = PartitionEngine(0, self.policy)
        self.out: list[SlaEvent] = []
        self.n = 0

    def send(
        self,
        type_: str,
        time: datetime,
        tid: str = "T1",
        event_id: str | None = None,
        **data: Any,
    ) -> list[SlaEvent]:
        self.n += 1
        attrs = data.pop("ticket", {})
        event = TicketEvent(
            id=event_id or f"e{self.n}",
            source="test",
            type=type_,
            time=time,
            ticket_id=tid,
            ticket=attrs,
            channel=data.get("channel"),
            automated=data.get("automated", False),
        )
        got = as_emitted(self.engine.handle(event, WALL).outputs)
        self.out.extend(got)
        return got

    def advance(self, time: datetime) -> list[SlaEvent]:
        got = as_emitted(self.engine.advance(to_us(time)))
        self.out.extend(got)
        return got

    def types(self, events: list[SlaEvent] | None = None) -> list[str]:
        return [f"{e.type}:{e.data.metric}" for e in (self.out if events is None else events)]


def test_created_starts_first_answer_and_resolution_with_dues_in_business_time() -> None:
    d = Driver()
    out = d.send("ticket.created", at(0), ticket={"source": "email"})
    assert d.types(out) == ["sla.started:first_answer", "sla.started:resolution"]
    first = out[0].data
    assert first.timer_id == "T1:first_answer:1"
    assert first.due_at == utc("2026-11-16T11:00:00Z")
    assert first.target_seconds == 3600
    assert first.level == "standard" and first.calendar == "24/7"
    assert first.policy_version == d.policy.version
    assert out[0].id == "T1:first_answer:1/1:sla.started"


def test_seeds_example_friday_1600_four_business_hours_is_due_monday_1200() -> None:
    d = Driver()
    friday_16_oslo = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 16:00 in Oslo (UTC+1)
    out = d.send("ticket.created", friday_16_oslo, ticket={"department": "office"})
    assert out[0].data.level == "office"
    assert out[0].data.due_at == utc("2026-11-23T11:00:00Z")  # Monday 12:00 in Oslo


def test_answer_in_time_fulfils_and_no_breach_follows() -> None:
    d = Driver()
    d.send("ticket.created", at(0))
    out = d.send("ticket.answered", at(20), ticket={"agent": "ola"})
    assert d.types(out) == ["sla.fulfilled:first_answer"]
    assert out[0].data.elapsed_seconds == 1200
    assert out[0].data.remaining_seconds == 2400
    assert out[0].data.agent == "ola"
    d.advance(at(600))
    assert "sla.breached:first_answer" not in d.types()
    assert "sla.breached:resolution" in d.types()


def test_watermark_past_due_breaches_at_due_then_late_answer_misses() -> None:
    d = Driver()
    d.send("ticket.created", at(0))
    out = d.advance(at(60))  # exactly at due: not yet passed
    assert "sla.breached:first_answer" not in d.types(out)
    out = d.advance(at(61))
    assert "sla.breached:first_answer" in d.types(out)
    breach = next(e for e in out if e.type == "sla.breached")
    assert breach.time == at(60)
    assert breach.data.remaining_seconds == 0
    out = d.send("ticket.answered", at(70))
    assert d.types(out) == ["sla.missed:first_answer"]
    assert out[0].data.remaining_seconds == -600


def test_answer_exactly_at_due_fulfils() -> None:
    d = Driver()
    d.send("ticket.created", at(0))
    out = d.send("ticket.answered", at(60))
    assert d.types(out) == [
        "sla.warning:first_answer",  # 75% at minute 45
        "sla.warning:first_answer",  # 10 minutes left at minute 50
        "sla.fulfilled:first_answer",
    ]
    assert "sla.breached:first_answer" not in d.types()


def test_late_answer_that_proves_in_time_corrects_the_breach() -> None:
    d = Driver()
    d.send("ticket.created", at(0))
    d.send("ticket.created", at(90), tid="T2")  # another ticket drags the watermark on
    assert "sla.breached:first_answer" in d.types()
    out = d.send("ticket.answered", at(50))  # late: happened before the due
    assert d.types(out) == ["sla.fulfilled:first_answer"]
    assert out[0].data.corrects_breach is True
    assert out[0].data.breached is False


def test_event_advancing_past_due_emits_breach_before_the_missed_stop() -> None:
    d = Driver()
    d.send("ticket.created", at(0))
    out = d.send("ticket.answered", at(75))
    kinds = [e.type for e in out if e.data.metric == "first_answer"]
    assert kinds.index("sla.breached") < kinds.index("sla.missed")


def test_warnings_share_and_time_left() -> None:
    d = Driver()
    d.send("ticket.created", at(0))
    out = d.advance(at(46))
    warnings = [e for e in out if e.type == "sla.warning" and e.data.metric == "first_answer"]
    assert [(w.data.threshold, w.time) for w in warnings] == [("75%", at(45))]
    out = d.advance(at(51))
    warnings = [e for e in out if e.type == "sla.warning" and e.data.metric == "first_answer"]
    assert [(w.data.threshold, w.time) for w in warnings] == [("10m", at(50))]


def test_automated_reply_stops_nothing() -> None:
    d = Driver()
    d.send("ticket.created", at(0))
    assert d.send("ticket.answered", at(1), automated=True) == []


def test_chat_and_call_tickets_start_their_own_answer_metric() -> None:
    d = Driver()
    assert d.types(d.send("ticket.created", at(0), ticket={"source": "chat"}))[0] == (
        "sla.started:chat_answer"
    )
    out = d.send("ticket.created", at(0), tid="T2", ticket={"source": "call"})
    assert d.types(out)[0] == "sla.started:call_answer"


def test_customer_reply_after_an_answer_starts_next_answer_in_new_cycles() -> None:
    d = Driver()
    d.send("ticket.created", at(0))
    d.send("ticket.answered", at(5))
    out = d.send("ticket.customer_replied", at(10), channel="email")
    assert d.types(out) == ["sla.started:next_answer"]
    assert d.send("ticket.customer_replied", at(11)) == []  # a timer already runs
    d.send("ticket.answered", at(20))
    out = d.send("ticket.customer_replied", at(30))
    assert out[0].data.timer_id == "T1:next_answer:2"
    out = d.send("ticket.answered", at(40))
    assert out[0].data.elapsed_seconds == 600


def test_customer_reply_on_chat_channel_starts_chat_answer() -> None:
    d = Driver()
    d.send("ticket.created", at(0))
    d.send("ticket.answered", at(5))
    out = d.send("ticket.customer_replied", at(10), channel="chat")
    assert d.types(out) == ["sla.started:chat_answer"]


def test_pause_by_status_shifts_the_due_by_the_paused_time() -> None:
    d = Driver()
    d.send("ticket.created", at(0))
    out = d.send("ticket.updated", at(10), ticket={"status": "pending"})
    assert sorted(d.types(out)) == ["sla.paused:first_answer", "sla.paused:resolution"]
    assert d.advance(at(500)) == []  # nothing fires while paused
    out = d.send("ticket.updated", at(100), ticket={"status": "open"})
    resumed = next(e for e in out if e.type == "sla.resumed" and e.data.metric == "first_answer")
    assert resumed.data.due_at == utc("2026-11-16T12:30:00Z")  # 60 min + 90 min paused
    out = d.send("ticket.answered", at(140))
    assert out[0].type == "sla.fulfilled"
    assert out[0].data.elapsed_seconds == 3000  # 10 + 40 minutes


def test_escalation_retargets_from_the_original_start() -> None:
    d = Driver()
    d.send("ticket.created", at(0), ticket={"customer_group": "VIP", "priority": "normal"})
    out = d.send("ticket.updated", at(10), ticket={"priority": "urgent"})
    retargeted = [e for e in out if e.type == "sla.retargeted"]
    assert [e.data.metric for e in retargeted] == ["first_answer"]
    assert retargeted[0].data.level == "gold"
    assert retargeted[0].data.reason == "standard"
    assert retargeted[0].data.due_at == utc("2026-11-16T10:30:00Z")
    cancelled = [e for e in out if e.type == "sla.cancelled"]
    assert [e.data.metric for e in cancelled] == ["resolution"]  # gold has no resolution
    assert cancelled[0].data.reason == "level_change"


def test_close_stops_everything_and_reopen_starts_new_cycles() -> None:
    d = Driver()
    d.send("ticket.created", at(0))
    out = d.send("ticket.closed", at(30))
    assert sorted(d.types(out)) == ["sla.fulfilled:first_answer", "sla.fulfilled:resolution"]
    out = d.send("ticket.reopened", at(40))
    assert sorted(e.data.timer_id for e in out) == ["T1:next_answer:1", "T1:resolution:2"]


def test_delete_cancels_and_marks_the_ticket_deleted() -> None:
    d = Driver()
    d.send("ticket.created", at(0))
    out = d.send("ticket.deleted", at(5))
    assert sorted(d.types(out)) == ["sla.cancelled:first_answer", "sla.cancelled:resolution"]
    assert all(e.data.ticket_deleted for e in out)
    assert d.send("ticket.customer_replied", at(6)) == []


def test_delete_of_a_ticket_with_only_ended_timers_sends_one_deletion_notice() -> None:
    d = Driver()
    d.send("ticket.created", at(0))
    d.send("ticket.closed", at(5))
    out = d.send("ticket.deleted", at(6))
    assert len(out) == 1 and out[0].type == "sla.cancelled" and out[0].data.ticket_deleted


def test_duplicate_event_changes_nothing() -> None:
    d = Driver()
    d.send("ticket.created", at(0), event_id="same")
    assert d.send("ticket.created", at(0), event_id="same") == []
    assert d.send("ticket.closed", at(1), event_id="c") != []
    assert d.send("ticket.closed", at(1), event_id="c") == []


def test_level_null_gives_no_sla() -> None:
    policy = POLICY.replace("default_level: standard", "default_level: null")
    d = Driver(policy)
    assert d.send("ticket.created", at(0)) == []


def test_future_event_time_is_clamped_to_the_wall_clock() -> None:
    d = Driver()
    wall = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
    event = TicketEvent("f", "test", "ticket.created", wall + timedelta(days=3), "T9")
    result = d.engine.handle(event, wall)
    assert result.clamped
    assert d.engine.watermark_us == to_us(wall)
    assert as_emitted(result.outputs)[0].data.started_at == utc("2026-11-16T10:00:00Z")


STREAM: list[tuple[str, float, str, dict[str, Any]]] = [
    ("ticket.created", 0, "A", {"ticket": {"department": "support", "source": "email"}}),
    ("ticket.created", 3, "B", {"ticket": {"source": "chat"}}),
    ("ticket.created", 5, "C", {"ticket": {"customer_group": "VIP", "priority": "low"}}),
    ("ticket.answered", 4, "B", {}),
    ("ticket.updated", 8, "C", {"ticket": {"priority": "high"}}),
    ("ticket.updated", 20, "A", {"ticket": {"status": "pending"}}),
    ("ticket.created", 50, "D", {}),
    ("ticket.updated", 70, "A", {"ticket": {"status": "open"}}),
    ("ticket.answered", 75, "C", {}),
    ("ticket.customer_replied", 80, "B", {"channel": "email"}),
    ("ticket.answered", 100, "A", {}),
    ("ticket.closed", 130, "A", {}),
    ("ticket.deleted", 140, "D", {}),
    ("ticket.created", 300, "E", {}),
    ("ticket.answered", 200, "B", {}),  # late
]


def run_stream(advance_every: int | None, snapshot_at: int | None = None) -> list[tuple[str, str]]:
    d = Driver()
    for i, (type_, minute, ticket, data) in enumerate(STREAM):
        d.send(type_, at(minute), tid=ticket, event_id=f"s{i}", **data)
        if advance_every and i % advance_every == 0:
            d.advance(at(minute) - timedelta(minutes=1))  # a live clock lagging the events
        if snapshot_at is not None and i == snapshot_at:
            d.engine = round_trip(d.engine)
    d.advance(at(10_000))
    return [(e.id, e.type) for e in d.out]


def test_replay_gives_the_same_ids_and_verdicts_as_live() -> None:
    replay = run_stream(None)
    live = run_stream(1)
    assert sorted(replay) == sorted(live)
    assert len(set(replay)) == len(replay)


@pytest.mark.parametrize("cut", [0, 4, 7, 11])
def test_snapshot_and_restore_midway_changes_nothing(cut: int) -> None:
    assert run_stream(None, snapshot_at=cut) == run_stream(None)


def _bytes(rows: dict[str, Any]) -> dict[str, tuple[bytes, Any, Any]]:
    return {t: tuple(r) for t, r in rows.items()}


def test_every_sla_event_carries_the_reported_attributes_last_in_their_order() -> None:
    d = Driver()
    got = d.engine.handle(
        TicketEvent("e1", "test", "ticket.created", at(0), "T1", {"department": "x"}), WALL
    ).outputs
    fields = SlaEventData.__struct_fields__
    # the reported attributes close the timer's description; only the edge's stamp follows
    assert fields[-len(REPORTED_ATTRIBUTES) - 1 :] == (*REPORTED_ATTRIBUTES, "emitted_at")
    assert got and all(e.data.emitted_at is UNSET for e in got)
    assert got[0].data.department == "x" and got[0].data.tags == []


def test_a_row_keeps_the_state_it_was_taken_with_when_the_ticket_changes_after() -> None:
    """Rows are written in the background: one that followed its ticket's later changes (its
    seen ids, cycles, attributes change in place) would make a restore skip those events as
    duplicates."""
    d = Driver()
    d.send("ticket.created", at(0), ticket={"priority": "low"})
    expected = orjson.loads(orjson.dumps(state_to_dict(d.engine.tickets["T1"])))
    row = d.engine.take_dirty()["T1"]
    d.send("ticket.updated", at(1), ticket={"priority": "high"})
    d.send("ticket.closed", at(2))
    d.send("ticket.reopened", at(3))
    assert orjson.loads(row.state) == expected


@pytest.mark.parametrize("cut", range(len(STREAM)))
def test_a_snapshot_begun_midway_holds_the_states_of_that_moment_whatever_comes_after(
    cut: int,
) -> None:
    """Rows are built lazily (copy on write): the events and alarms after the snapshot began
    must not leak into it, and filling it in chunks changes nothing."""
    eager, lazy = Driver(), Driver()
    taken: dict[str, tuple[bytes, Any, Any]] = {}
    meta: dict[str, Any] = {}
    snapshot = None
    for i, (type_, minute, ticket, data) in enumerate(STREAM):
        for d in (eager, lazy):
            d.send(type_, at(minute), tid=ticket, event_id=f"s{i}", **dict(data))
            d.advance(at(minute) - timedelta(minutes=1))
        if i == cut:
            taken, meta = _bytes(eager.engine.take_dirty()), eager.engine.meta()
            snapshot = lazy.engine.begin_snapshot()
            assert lazy.engine.fill_snapshot(1) == (len(taken) <= 1)
    for d in (eager, lazy):
        d.advance(at(10_000))  # every alarm fires, every ticket left changes
    assert snapshot is not None and lazy.engine.fill_snapshot(100)
    assert (_bytes(snapshot.rows), snapshot.meta) == (taken, meta)
    assert lazy.out == eager.out
    # what changed after the snapshot began is in the next one, as the eager engine has it
    assert _bytes(lazy.engine.take_dirty()) == _bytes(eager.engine.take_dirty())


def test_restored_tickets_stay_packed_until_an_event_or_their_alarm_needs_them() -> None:
    d = Driver()
    d.send("ticket.created", at(0), tid="A")  # first answer 1h: warnings at 45 and 50 min
    d.send("ticket.created", at(0), tid="B")
    d.send("ticket.answered", at(5), tid="B")
    open_timers = d.engine.open_timers
    d.engine = round_trip(d.engine)
    assert (d.engine.packed, d.engine.tickets, d.engine.open_timers) == (2, {}, open_timers)
    assert d.engine.next_alarm_us() == to_us(at(45))  # A's earliest alarm stands for A

    d.send("ticket.customer_replied", at(10), tid="B", channel="email")
    assert d.engine.packed == 1 and set(d.engine.tickets) == {"B"}
    assert d.advance(at(44)) == [] and d.engine.packed == 1

    warned = d.advance(at(45))
    assert d.engine.packed == 0
    assert d.types(warned) == ["sla.warning:first_answer"]
    assert warned[0].time == at(45) and warned[0].ticket_id == "A"
    assert d.engine.open_timers == open_timers + 1  # B's next answer


def test_unpacking_some_decodes_at_most_that_many_and_keeps_the_alarms() -> None:
    d = Driver()
    for n in range(5):
        d.send("ticket.created", at(n), tid=f"T{n}")
    d.engine = round_trip(d.engine)
    assert d.engine.unpack_some(2) == 2 and d.engine.packed == 3
    assert d.engine.unpack_some(10) == 3 and d.engine.packed == 0
    assert d.engine.unpack_some(10) == 0
    assert d.types(d.advance(at(46))) == ["sla.warning:first_answer"] * 2  # T0 and T1 at 75%


def _rows(engine: PartitionEngine, *, alarms: bool) -> list[tuple[str, bytes, Any, Any]]:
    """Every ticket's snapshot row; without `alarms`, as rows were written before they carried
    their earliest alarm and running timers."""
    rows = all_rows(engine)
    return rows if alarms else [(tid, state, None, None) for tid, state, _, _ in rows]


@pytest.mark.parametrize("case", ["rows without alarms", "snapshot of another policy"])
def test_old_rows_and_snapshots_of_another_policy_are_decoded_at_restore(case: str) -> None:
    def started() -> Driver:
        d = Driver()
        d.send("ticket.created", at(0), tid="A")
        d.send("ticket.created", at(1), tid="B", ticket={"department": "office"})
        return d

    expected = started()
    expected.advance(at(10_000))

    d = started()
    meta = d.engine.meta()
    if case == "snapshot of another policy":
        meta["policy_version"] = "sha256:0123456789abcdef"
    rows = _rows(d.engine, alarms=case != "rows without alarms")
    d.engine = PartitionEngine.restore(0, d.policy, meta, rows)
    assert d.engine.packed == 0 and set(d.engine.tickets) == {"A", "B"}
    d.advance(at(10_000))
    assert d.out == expected.out


def test_a_snapshot_row_that_cannot_be_decoded_is_named_when_needed() -> None:
    policy = parse_policy(POLICY)
    meta = {"watermark_us": 0, "max_event_us": 0, "policy_version": policy.version}
    engine = PartitionEngine.restore(3, policy, meta, [("T9", b"{not json", 1_000, 1)])
    assert engine.packed == 1 and engine.open_timers == 1
    with pytest.raises(SnapshotError, match=r"partition 3.*'T9'"):
        engine.advance(1_000)


def test_state_round_trips_through_its_dict_form() -> None:
    d = Driver()
    d.send("ticket.created", at(0), ticket={"tags": ["a"], "custom_fields": {"x": 1}})
    d.send("ticket.updated", at(10), ticket={"status": "pending"})
    state = d.engine.tickets["T1"]
    raw = orjson.loads(orjson.dumps(state_to_dict(state)))
    again = state_from_dict("T1", raw, d.policy, state.binding)
    assert state_to_dict(again) == state_to_dict(state)
