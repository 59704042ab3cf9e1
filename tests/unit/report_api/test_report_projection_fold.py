"""The projection's pure fold: states, duplicates, corrections, deletions and rollup deltas."""

from __future__ import annotations

import msgspec
import pytest

from report_api.projection.events import InvalidEvent, parse_event
from report_api.projection.handlers import Outcome, fold_batch
from report_api.projection.rollup_deltas import rollup_changes
from report_api.projection.store import batch_writes
from report_api.testing import at, encode, sla_event
from sla_core.events import OwnershipSegment, SlaEvent

START = "2026-03-02T10:00:00Z"


def parsed(type_: str, ticket: str = "T1", **kw: object):
    kw.setdefault("started", START)
    kw.setdefault("time", START)
    return parse_event(encode(sla_event(type_, ticket, **kw)))  # type: ignore[arg-type]


def test_lifecycle_states_and_duplicates() -> None:
    started = parsed("sla.started")
    breached = parsed("sla.breached", time="2026-03-02T11:00:00Z")
    missed = parsed("sla.missed", time="2026-03-02T11:30:00Z")
    result = fold_batch([started, breached, started, missed], {}, [])
    assert [o for _, o in result.outcomes] == [
        Outcome.APPLIED,
        Outcome.APPLIED,
        Outcome.DUPLICATE,
        Outcome.APPLIED,
    ]
    row = result.after["T1:first_answer:1"]
    assert row is not None and row.state == "missed" and row.breached
    assert row.elapsed_seconds == 5400
    # A later batch repeating an event sees it as a duplicate of the stored row.
    again = fold_batch([missed], {row.timer_id: row}, [])
    assert again.after == {} and again.outcomes[0][1] is Outcome.DUPLICATE


def test_a_timer_row_keeps_the_zone_its_events_name() -> None:
    """SPEC 8: timezone and timezone_source come from the event; events of an older engine do
    not say (None), and leave the columns NULL."""
    zoned = parsed("sla.started", timezone="America/Sao_Paulo", timezone_source="ticket")
    row = fold_batch([zoned], {}, []).after["T1:first_answer:1"]
    assert row is not None
    assert (row.timezone, row.timezone_source) == ("America/Sao_Paulo", "ticket")
    older = parsed("sla.started", ticket="T2", timezone=None, timezone_source=None)
    old_row = fold_batch([older], {}, []).after["T2:first_answer:1"]
    assert old_row is not None and (old_row.timezone, old_row.timezone_source) == (None, None)


def test_a_cancelled_timer_keeps_its_reason_and_no_other_row_has_one() -> None:
    """SPEC 5 and 8: `cancel_reason` is the reason of the timer's sla.cancelled (reset,
    cancel_condition, closed, level_change); rows in any other state have none, even when an
    event of theirs carries a reason (sla.retargeted names the previous level there)."""
    reasons = ("reset", "cancel_condition", "closed", "level_change")
    cancelled = [
        parsed("sla.cancelled", f"C{i}", time="2026-03-02T10:30:00Z", reason=reason)
        for i, reason in enumerate(reasons)
    ]
    retargeted = parsed("sla.retargeted", "R", reason="standard")
    fulfilled = parsed("sla.fulfilled", "F", time="2026-03-02T10:20:00Z")
    after = fold_batch([*cancelled, retargeted, fulfilled], {}, []).after
    rows = {timer_id.split(":")[0]: row for timer_id, row in after.items()}
    assert {t: (r.state, r.cancel_reason) for t, r in rows.items() if r is not None} == {
        **{f"C{i}": ("cancelled", reason) for i, reason in enumerate(reasons)},
        "R": ("running", None),
        "F": ("fulfilled", None),
    }
    # a late event of the cancelled timer is stale: the reason stays
    late = parsed("sla.missed", "C0", time="2026-03-02T12:00:00Z")
    row = rows["C0"]
    assert row is not None
    assert fold_batch([late], {row.timer_id: row}, []).after == {}
    older = parsed("sla.cancelled", "O", time="2026-03-02T10:30:00Z")  # an engine that did not say
    old_row = fold_batch([older], {}, []).after["O:first_answer:1"]
    assert old_row is not None and (old_row.state, old_row.cancel_reason) == ("cancelled", None)


def test_ended_timers_are_final_except_a_corrected_breach() -> None:
    missed = fold_batch([parsed("sla.missed", time="2026-03-02T11:30:00Z")], {}, []).after
    row = missed["T1:first_answer:1"]
    assert row is not None
    stale = fold_batch(
        [parsed("sla.breached", time="2026-03-02T11:00:00Z")], {row.timer_id: row}, []
    )
    assert stale.outcomes[0][1] is Outcome.STALE
    late = parsed("sla.fulfilled", time="2026-03-02T10:50:00Z", corrects_breach=True)
    fixed = fold_batch([late], {row.timer_id: row}, [])
    new = fixed.after[row.timer_id]
    assert new is not None and new.state == "fulfilled" and new.corrected
    deltas, dirty = rollup_changes(fixed)
    # The missed contribution leaves (its rows recomputed), the fulfilled one arrives.
    assert [(d[-3], d[-1]) for d in deltas] == [("missed", -1), ("fulfilled", 1)]
    # The dirty key carries the state: under at_breach a missed timer's rows are its breach
    # holder's.
    assert [k[-1] for k in dirty] == ["missed"]


def test_a_deleted_ticket_leaves_and_stays_gone() -> None:
    done = parsed("sla.fulfilled", time="2026-03-02T10:10:00Z")
    row = fold_batch([done], {}, []).after["T1:first_answer:1"]
    assert row is not None
    deletion = parsed("sla.cancelled", time="2026-03-02T12:00:00Z", ticket_deleted=True)
    result = fold_batch([deletion, parsed("sla.started", cycle=2)], {row.timer_id: row}, [])
    assert result.after == {row.timer_id: None}
    assert set(result.deleted_tickets) == {"T1"}
    assert [o for _, o in result.outcomes] == [Outcome.DELETED, Outcome.DELETED]
    later = fold_batch([parsed("sla.started", cycle=3)], {}, ["T1"])
    assert later.after == {}


def test_running_and_cancelled_timers_contribute_nothing() -> None:
    result = fold_batch([parsed("sla.started"), parsed("sla.cancelled", ticket="T2")], {}, [])
    assert rollup_changes(result) == ([], [])


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "empty"),
        (b"not json", "not_json"),
        (b'{"type": "sla.started", "data": {}}', "missing_field"),
        (b'{"type": "ticket.created", "id": "x", "source": "s", "data": {}}', "unknown_type"),
    ],
)
def test_invalid_values_are_named(value: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_event(value)
    assert caught.value.reason == reason


def _owned(event: SlaEvent, **data: object) -> SlaEvent:
    return msgspec.structs.replace(event, data=msgspec.structs.replace(event.data, **data))


def test_segments_and_the_holder_at_breach() -> None:
    segment = OwnershipSegment(
        agent="ann",
        team="A",
        started_at=at(START),
        ended_at=at("2026-03-02T11:00:00Z"),
        business_seconds=3600,
    )
    old_engine = parsed("sla.breached", time="2026-03-02T11:00:00Z")
    row = fold_batch([old_engine], {}, []).after["T1:first_answer:1"]
    assert row is not None and (row.breach_agent, row.breach_team) == ("agent-1", None)
    missed = _owned(
        parsed("sla.missed", time="2026-03-02T11:30:00Z"),
        team="B",
        segments=[segment],
        breach_agent="ann",
        breach_team="A",
    )
    result = fold_batch([missed], {row.timer_id: row}, [])
    after = result.after[row.timer_id]
    assert after is not None
    assert (after.team, after.breach_agent, after.breach_team) == ("B", "ann", "A")
    assert [(s.n, s.agent, s.business_seconds) for s in result.segments[row.timer_id]] == [
        (1, "ann", 3600)
    ]
    deletion = parsed("sla.cancelled", ticket_deleted=True, time="2026-03-02T12:00:00Z")
    assert fold_batch([missed, deletion], {}, []).segments == {}


def test_batch_writes_delete_only_what_is_stored_and_copy_every_new_version() -> None:
    segment = OwnershipSegment(
        agent="ann",
        team="A",
        started_at=at(START),
        ended_at=at("2026-03-02T10:30:00Z"),
        business_seconds=1800,
    )
    stored = fold_batch([parsed("sla.started"), parsed("sla.started", ticket="T3")], {}, [])
    rows = {t: r for t, r in stored.after.items() if r is not None}
    done = parsed("sla.fulfilled", time="2026-03-02T10:30:00Z")
    result = fold_batch(
        [
            _owned(done, segments=[segment]),  # a stored timer, its segments replaced
            _owned(
                parsed("sla.fulfilled", ticket="T2", time="2026-03-02T10:30:00Z"),
                segments=[segment],
            ),  # a new timer with segments
            parsed("sla.cancelled", ticket="T3", ticket_deleted=True),
        ],
        rows,
        [],
    )
    writes = batch_writes(result)
    assert writes.replaced == ["T1:first_answer:1"]
    assert writes.segments_replaced == ["T1:first_answer:1"]
    assert writes.deleted_tickets == ["T3"]
    assert sorted(r.timer_id for r in writes.timers) == ["T1:first_answer:1", "T2:first_answer:1"]
    assert all(r.state == "fulfilled" for r in writes.timers)
    assert sorted(s.timer_id for s in writes.segments) == ["T1:first_answer:1", "T2:first_answer:1"]
