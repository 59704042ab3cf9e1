"""Policy effective dates (SPEC sections 8 and 9): a ticket is bound to the version in force at
its first event, keeps it across reloads and restarts unless a version re-targets open timers,
and every SLA event names the version that set its timer's target.

Times are event times; the watermark is driven explicitly, never a clock.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sla_core.events import SlaEvent, TicketEvent
from sla_core.partition.engine import PartitionEngine, to_us
from sla_core.policy import Policy, PolicyError, parse_policy
from sla_core.policy_history import PolicyHistory
from sla_core.policy_summary import summarize
from tests.support.snapshots import all_rows, round_trip

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WALL = datetime(2031, 1, 1, tzinfo=UTC)
HOUR = 3600.0


def policy(first_answer: str, block: str = "", *, reopen: str = "2h") -> Policy:
    """A 24/7 policy whose first_answer target is `first_answer`; `block` goes in `policy:`."""
    return parse_policy(
        f"""
levels:
  std:
    targets: {{first_answer: {first_answer}, next_answer: 1h, resolution: 8h}}
    warnings: ["50%"]
default_level: std
policy: {{reopen_window: {reopen}{", " + block if block else ""}}}
"""
    )


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


V1 = policy("1h")
LATER = T0 + timedelta(hours=1)
V2_LATER = policy("2h", f"effective_from: {iso(LATER)}")  # from T0 + 1h


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


EVENT_IDS = itertools.count()  # unique across feeds: a restored engine remembers the ids


class Feed:
    """One partition engine fed ticket events with unique ids."""

    def __init__(self, engine: PartitionEngine) -> None:
        self.engine = engine
        self.out: list[SlaEvent] = []

    def send(self, type_: str, when: datetime, tid: str, **ticket: Any) -> list[SlaEvent]:
        event = TicketEvent(f"e{next(EVENT_IDS)}", "t", type_, when, tid, ticket)
        got = self.engine.handle(event, WALL)
        self.out += got.outputs
        return got.outputs

    def advance(self, when: datetime) -> list[SlaEvent]:
        got = self.engine.advance(to_us(when))
        self.out += got
        return got


def targets(
    events: list[SlaEvent], tid: str, metric: str = "first_answer"
) -> list[tuple[float, str]]:
    """(target, policy version) of the events of one timer of `tid` (alarms that fired on the
    way are left out)."""
    return [
        (e.data.target_seconds, e.data.policy_version)
        for e in events
        if e.ticket_id == tid and e.data.metric == metric and e.type != "sla.warning"
    ]


# ---- the policy block -----------------------------------------------------------------------


def test_effective_from_and_retarget_open_are_parsed_and_change_the_version() -> None:
    v2 = policy("2h", f"effective_from: {iso(LATER)}, retarget_open: true")
    assert v2.effective_from_us == to_us(LATER)
    assert v2.retarget_open is True
    assert V1.effective_from_us is None and V1.retarget_open is False
    assert policy("2h", "effective_from: 2026-12-01T10:00:00+01:00").effective_from_us == to_us(T0)
    assert policy("2h").version != V2_LATER.version != v2.version


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2026-12-01", "is not an RFC 3339 instant with an offset"),
        ("2026-12-01T00:00:00", "is not an RFC 3339 instant with an offset"),
        ("tomorrow", "is not an RFC 3339 instant with an offset"),
        ("12", "expected a string, got a number"),
    ],
)
def test_a_bad_effective_from_is_refused_with_its_path_and_line(value: str, message: str) -> None:
    text = (
        f"levels:\n  std:\n    targets: {{first_answer: 1h}}\npolicy:\n  effective_from: {value}\n"
    )
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    [problem] = caught.value.problems
    assert (problem.path, problem.line) == ("policy.effective_from", 5)
    assert message in problem.message


def test_a_retarget_open_that_is_not_a_boolean_is_refused() -> None:
    text = "levels:\n  std:\n    targets: {first_answer: 1h}\npolicy:\n  retarget_open: yes\n"
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    [problem] = caught.value.problems
    assert (problem.path, problem.line) == ("policy.retarget_open", 5)
    assert "write true or false" in problem.message


def test_check_policy_summary_says_when_a_version_applies() -> None:
    assert "effective: from the beginning of time" in summarize(V1)
    text = summarize(policy("2h", f"effective_from: {iso(LATER)}, retarget_open: true"))
    assert "effective from: 2026-12-01T10:00:00Z (tickets created from then on)" in text
    assert "retarget open: true" in text


# ---- binding by creation time ---------------------------------------------------------------


def test_a_ticket_takes_the_version_in_force_at_its_creation_the_boundary_included() -> None:
    feed = Feed(PartitionEngine(0, V1))
    feed.send("ticket.created", at(0), "old")
    feed.engine.set_policy(V2_LATER)  # loaded at T0, in force from T0 + 1h
    just_before = feed.send("ticket.created", LATER - timedelta(microseconds=1), "before")
    at_start = feed.send("ticket.created", LATER, "at")
    assert targets(just_before, "before") == [(HOUR, V1.version)]
    assert targets(at_start, "at") == [(2 * HOUR, V2_LATER.version)]
    # the old ticket keeps its version and target: its next cycle starts under v1 too
    feed.send("ticket.answered", at(70), "old")
    again = feed.send("ticket.customer_replied", at(80), "old")
    assert [(e.data.metric, e.data.policy_version) for e in again] == [("next_answer", V1.version)]
    breach = [e for e in feed.advance(at(200)) if e.type == "sla.breached"]
    assert {(e.ticket_id, e.data.target_seconds, e.data.policy_version) for e in breach} == {
        ("before", HOUR, V1.version),
        ("at", 2 * HOUR, V2_LATER.version),
        ("old", HOUR, V1.version),  # next_answer, 1h, from v1
    }


def test_an_engine_built_with_several_versions_binds_as_if_they_were_reloaded() -> None:
    built = Feed(PartitionEngine(0, V2_LATER, older=(V1,)))
    assert set(built.engine.held_versions) == {V1.version, V2_LATER.version}
    assert targets(built.send("ticket.created", at(59), "a"), "a") == [(HOUR, V1.version)]
    b = built.send("ticket.created", at(60), "b")
    assert targets(b, "b") == [(2 * HOUR, V2_LATER.version)]


def test_a_version_without_effective_from_moves_every_ticket_but_keeps_running_targets() -> None:
    """What a reload always did: rules and levels of the new version from the next event on,
    while running timers keep their targets, now with the version that set them."""
    feed = Feed(PartitionEngine(0, V1))
    feed.send("ticket.created", at(0), "T")
    v2 = policy("2h")
    feed.engine.set_policy(v2)
    feed.send("ticket.answered", at(10), "T")  # ends first_answer, set by v1
    reply = feed.send("ticket.customer_replied", at(20), "T")  # next_answer under v2
    done = feed.send("ticket.closed", at(30), "T")
    first = [e for e in feed.out if e.data.metric == "first_answer"]
    assert {e.data.policy_version for e in first} == {V1.version}
    assert [e.data.policy_version for e in reply] == [v2.version]
    assert {(e.data.metric, e.data.policy_version) for e in done} == {
        ("next_answer", v2.version),
        ("resolution", V1.version),
    }
    assert set(feed.engine.held_versions) == {v2.version}  # v1 set targets, but is not needed


# ---- retarget_open --------------------------------------------------------------------------


def test_retarget_open_retargets_running_timers_from_their_original_start() -> None:
    feed = Feed(PartitionEngine(0, V1))
    feed.send("ticket.created", at(0), "T")
    feed.send("ticket.created", at(5), "done")
    feed.send("ticket.closed", at(6), "done")
    feed.advance(at(30))
    v2 = policy("2h", "retarget_open: true")
    feed.engine.set_policy(v2)  # due at the watermark now: the next advance or event fires it
    out = feed.advance(at(30))
    assert [(e.type, e.ticket_id, e.data.metric) for e in out] == [
        ("sla.retargeted", "T", "first_answer"),
        ("sla.retargeted", "T", "resolution"),
    ]
    first = out[0].data
    assert out[0].time == at(30)
    assert first.started_at == at(0)  # from the original start
    assert first.target_seconds == 2 * HOUR and first.due_at == at(120)
    assert first.policy_version == v2.version and first.reason == "std"
    assert out[1].data.policy_version == v2.version
    # its 50% warning (at 1h) is still ahead; the old one (30m) has passed
    warned = [e for e in feed.advance(at(61)) if e.type == "sla.warning"]
    assert [(e.time, e.data.policy_version) for e in warned] == [(at(60), v2.version)]
    assert set(feed.engine.held_versions) == {v2.version}  # the closed ticket moved too


def test_retarget_open_onto_a_target_already_exceeded_breaches_at_once() -> None:
    feed = Feed(PartitionEngine(0, V1))
    feed.send("ticket.created", at(0), "T")
    feed.advance(at(45))
    v2 = policy("30m", "retarget_open: true")
    feed.engine.set_policy(v2)
    out = feed.advance(at(45) + timedelta(microseconds=1))
    assert [(e.type, e.data.metric, e.time) for e in out] == [
        ("sla.retargeted", "first_answer", at(45)),
        ("sla.retargeted", "resolution", at(45)),
        ("sla.breached", "first_answer", at(30)),  # the new due, counted from the start
    ]
    assert out[-1].data.policy_version == v2.version


def test_retarget_open_with_a_future_effective_from_waits_for_that_instant() -> None:
    feed = Feed(PartitionEngine(0, V1))
    feed.send("ticket.created", at(0), "T")
    v2 = policy("2h", f"effective_from: {iso(LATER)}, retarget_open: true")
    feed.engine.set_policy(v2)
    before = feed.send("ticket.created", at(30), "between")  # created before: v1, for now
    assert targets(before, "between") == [(HOUR, V1.version)]
    assert feed.advance(at(59)) == []
    out = feed.advance(LATER)
    retargeted = [(e.ticket_id, e.time) for e in out if e.type == "sla.retargeted"]
    assert retargeted == [("T", LATER), ("T", LATER), ("between", LATER), ("between", LATER)]
    assert {e.data.policy_version for e in out} == {v2.version}
    # T's first answer was due at T0 + 1h under v1 and is not breached under v2 (2h); the
    # warning v1 planned for "between" at T0 + 1h is stale, v2's comes at half its 2h
    assert not [e for e in out if e.type in ("sla.breached", "sla.warning")]
    warned = [e for e in feed.advance(at(90)) if e.ticket_id == "between"]
    assert [(e.type, e.data.metric, e.time) for e in warned] == [
        ("sla.warning", "first_answer", at(90))
    ]


def test_retarget_open_survives_a_restart_before_its_instant() -> None:
    feed = Feed(PartitionEngine(0, V1))
    feed.send("ticket.created", at(0), "T")
    v2 = policy("2h", f"effective_from: {iso(LATER)}, retarget_open: true")
    feed.engine.set_policy(v2)
    restored = Feed(round_trip(feed.engine))
    out = restored.advance(LATER)
    assert targets(out, "T") == [(2 * HOUR, v2.version)]


# ---- snapshots ------------------------------------------------------------------------------


def twin_feeds() -> tuple[Feed, Feed]:
    """Two engines holding tickets of two versions, the same events so far."""
    feeds = Feed(PartitionEngine(0, V1)), Feed(PartitionEngine(0, V1))
    for feed in feeds:
        feed.send("ticket.created", at(0), "old")
        feed.engine.set_policy(V2_LATER)
        feed.send("ticket.created", at(61), "new")
        feed.send("ticket.updated", at(62), "old", status="open")
    return feeds


def later_events(feed: Feed) -> list[SlaEvent]:
    out = feed.send("ticket.answered", at(100), "new")
    out += feed.send("ticket.answered", at(105), "old")
    out += feed.send("ticket.customer_replied", at(110), "old")
    return out + feed.advance(at(400))


def test_a_snapshot_round_trip_keeps_each_ticket_on_its_version() -> None:
    kept, restarted = twin_feeds()
    meta = kept.engine.meta()
    assert set(meta["policies"]) == {V1.version, V2_LATER.version}
    restarted = Feed(round_trip(restarted.engine))
    assert restarted.engine.packed == 2  # lazy: same newest version
    assert [e.id for e in later_events(restarted)] == [e.id for e in later_events(kept)]
    assert restarted.out[-5:] == kept.out[-5:]
    timers = {(e.ticket_id, e.data.metric): e.data.policy_version for e in restarted.out}
    assert timers[("old", "next_answer")] == V1.version
    assert timers[("new", "first_answer")] == V2_LATER.version


def test_rows_name_their_binding_and_timers_only_a_version_that_differs() -> None:
    feed = Feed(PartitionEngine(0, V1))
    feed.send("ticket.created", at(0), "T")
    v2 = policy("2h")
    feed.engine.set_policy(v2)
    feed.send("ticket.customer_replied", at(5), "T", channel="email")
    [(_, raw, *_)] = all_rows(feed.engine)
    row = orjson.loads(raw)
    assert row["v"] == V1.version  # bound under v1, and moved to v2 (not rewritten for it)
    assert {t["m"]: t.get("pv") for t in row["r"]} == {"first_answer": None, "resolution": None}
    feed.send("ticket.answered", at(6), "T")
    feed.send("ticket.customer_replied", at(7), "T")
    [(_, raw, *_)] = all_rows(feed.engine)
    assert {t["m"]: t.get("pv") for t in orjson.loads(raw)["r"]} == {
        "resolution": None,
        "next_answer": v2.version,
    }


def test_a_snapshot_from_before_versions_were_kept_binds_to_the_newest() -> None:
    feed = Feed(PartitionEngine(0, V1))
    feed.send("ticket.created", at(0), "T")
    old_rows = []
    for tid, raw, alarm, running in all_rows(feed.engine):
        row = orjson.loads(raw)
        del row["v"]
        old_rows.append((tid, orjson.dumps(row), alarm, running))
    old_meta = {"watermark_us": to_us(at(0)), "max_event_us": to_us(at(0))}
    v2 = policy("2h")
    engine = PartitionEngine.restore(0, v2, {**old_meta, "policy_version": "x"}, old_rows)
    out = Feed(engine).send("ticket.answered", at(10), "T")
    # as before: the restored timer names the policy in force; its target is its own
    assert targets(out, "T") == [(HOUR, v2.version)]


def test_a_file_changed_while_down_is_added_at_the_restore() -> None:
    feed = Feed(PartitionEngine(0, V1))
    feed.send("ticket.created", at(0), "old")
    meta, rows = feed.engine.meta(), all_rows(feed.engine)
    restored = Feed(PartitionEngine.restore(0, V2_LATER, meta, rows))
    assert set(restored.engine.held_versions) == {V1.version, V2_LATER.version}
    new = restored.send("ticket.created", at(61), "new")
    assert targets(new, "new") == [(2 * HOUR, V2_LATER.version)]
    answered = restored.send("ticket.answered", at(62), "old")
    assert targets(answered, "old") == [(HOUR, V1.version)]


# ---- forgetting versions --------------------------------------------------------------------


def test_a_version_is_forgotten_once_no_held_ticket_needs_it() -> None:
    feed = Feed(PartitionEngine(0, V1))
    feed.send("ticket.created", at(0), "old")
    feed.send("ticket.closed", at(10), "old")
    feed.engine.set_policy(V2_LATER)
    feed.send("ticket.created", at(70), "new")
    feed.engine.meta()  # a snapshot sweeps too
    assert set(feed.engine.held_versions) == {V1.version, V2_LATER.version}
    feed.advance(at(10) + timedelta(hours=2))  # the old ticket's reopen window has passed
    assert "old" not in feed.engine.tickets
    assert set(feed.engine.held_versions) == {V2_LATER.version}
    assert set(feed.engine.meta()["policies"]) == {V2_LATER.version}


def test_a_future_version_is_held_without_tickets_and_the_oldest_while_it_may_be_chosen() -> None:
    feed = Feed(PartitionEngine(0, V1))
    feed.engine.set_policy(V2_LATER)
    feed.advance(at(30))
    feed.engine.meta()
    assert set(feed.engine.held_versions) == {V1.version, V2_LATER.version}
    feed.advance(at(60))  # v2 in force before the watermark: no new ticket can take v1
    feed.engine.meta()
    assert set(feed.engine.held_versions) == {V2_LATER.version}


def test_packed_rows_keep_their_versions_until_decoded() -> None:
    feed = Feed(PartitionEngine(0, V1))
    feed.send("ticket.created", at(0), "old")
    feed.engine.set_policy(V2_LATER)
    feed.send("ticket.created", at(61), "new")
    engine = round_trip(feed.engine)
    engine.advance(to_us(at(62)))
    engine.meta()
    assert engine.packed == 2 and set(engine.held_versions) == {V1.version, V2_LATER.version}
    engine.unpack_all()
    assert set(engine.held_versions) == {V1.version, V2_LATER.version}  # "old" needs v1


# ---- the binding rule against an oracle ------------------------------------------------------

LOAD = st.tuples(st.sampled_from(["load"]), st.one_of(st.none(), st.integers(0, 20)))
CREATE = st.tuples(st.sampled_from(["create"]), st.integers(0, 20))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.integers(0, 20)), st.lists(st.one_of(LOAD, CREATE), max_size=30))
def test_binding_follows_the_rule_of_effective_dates(
    first: int | None, steps: list[tuple[str, Any]]
) -> None:
    """Rules 1 to 3 of sla_core.policy_history against a plain log of loads: a new ticket takes
    the newest version loaded since the last one without effective_from whose effective_from
    is at or before its creation (none: the one of those that starts first, the newest on a
    tie); a version without effective_from moves every ticket before it."""
    versions = [_numbered(0, first)]
    history = PolicyHistory(versions[0])
    log: list[Policy] = [versions[0]]  # loads since the last one without effective_from
    bound: list[tuple[Any, int]] = []  # (binding, index of the version the oracle expects)
    for kind, value in steps:
        if kind == "load":
            version = _numbered(len(versions), value)
            versions.append(version)
            history.add(version, 0)
            log = [version] if value is None else [*log, version]
            if value is None:
                bound = [(b, len(versions) - 1) for b, _ in bound]
        else:
            eligible = [
                p for p in log if p.effective_from_us is None or p.effective_from_us <= value
            ]
            n = len(log)
            earliest = min(range(n), key=lambda i: (log[i].effective_from_us or 0, n - i))
            want = eligible[-1] if eligible else log[earliest]
            bound.append((history.bind(value), versions.index(want)))
    for binding, index in bound:
        assert binding.policy is versions[index]


def _numbered(n: int, start: int | None) -> Policy:
    """The nth version, effective from `start` microseconds after the epoch (None: always)."""
    if start is None:
        return policy(f"{n + 1}h")
    return policy(f"{n + 1}h", f"effective_from: {iso(datetime.fromtimestamp(start / 1e6, UTC))}")
