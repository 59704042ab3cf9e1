"""`decode_identity` against `decode_ticket_event`, its oracle: for any record, the same identity
(time, source, id, type, ticket id) or the same DecodeError reason."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from sla_core.codec import DecodeError, decode_identity, decode_ticket_event
from sla_core.events import TICKET_ATTRIBUTES

VALID: dict[str, Any] = {
    "specversion": "1.0",
    "id": "evt-1",
    "source": "helpdesk/eu",
    "type": "ticket.updated",
    "time": "2026-11-20T16:00:00+01:00",
    "subject": "T-1",
    "data": {"ticket": {"status": "open"}},
}
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["", "x", "1.0", "2026-11-20T16:00:00Z", "2026-11-20T16:00:00", "nope"]),
    st.lists(st.sampled_from(["a", 1, None]), max_size=2),
    st.dictionaries(st.sampled_from(["a", "ticket"]), st.sampled_from([1, "b", {}]), max_size=2),
)


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for name, good in VALID.items():
        choice = draw(st.sampled_from(["good", "good", "good", "odd", "missing"]))
        if choice == "good":
            event[name] = good
        elif choice == "odd":
            event[name] = draw(ODD)
    if isinstance(event.get("data"), dict) and draw(st.booleans()):
        ticket = {
            name: draw(st.one_of(ODD, st.just("support"), st.just(["vip", "eu"])))
            for name in draw(st.lists(st.sampled_from([*TICKET_ATTRIBUTES, "other"]), max_size=4))
        }
        data = {"ticket": draw(st.one_of(st.just(ticket), ODD))}
        for extra in draw(st.lists(st.sampled_from(["channel", "automated", "more"]), max_size=2)):
            data[extra] = draw(st.one_of(ODD, st.just("email")))
        event["data"] = data
    return event


def outcome(decode: Any, value: bytes, headers: list[tuple[str, bytes]]) -> Any:
    try:
        found = decode(value, headers)
    except DecodeError as exc:
        return ("error", exc.reason)
    if decode is decode_ticket_event:
        return (found.time, found.source, found.id, found.type, found.ticket_id)
    return found


@settings(max_examples=1500, deadline=None)
@given(envelopes(), st.booleans())
def test_the_identity_is_what_the_full_decode_says(event: dict[str, Any], binary: bool) -> None:
    if binary:  # the attributes in ce_ headers, data in the value
        headers = [(f"ce_{k}", str(v).encode()) for k, v in event.items() if k != "data"]
        headers.append(("ce_specversion", b"1.0"))
        value = orjson.dumps(event.get("data", {}))
    else:
        headers, value = [("content-type", b"application/cloudevents+json")], orjson.dumps(event)
    assert outcome(decode_identity, value, headers) == outcome(decode_ticket_event, value, headers)


def test_records_that_are_no_json_object_get_the_full_decodes_reason() -> None:
    for value in (None, b"", b"{broken", b"[1, 2]", b"\xff\xfe", b'{"id": "a", "id": 1}'):
        assert outcome(decode_identity, value, []) == outcome(decode_ticket_event, value, []), value


def test_a_good_record_decodes_to_its_identity() -> None:
    time, source, event_id, type_, ticket = decode_identity(orjson.dumps(VALID))
    assert (source, event_id, type_, ticket) == ("helpdesk/eu", "evt-1", "ticket.updated", "T-1")
    assert time.isoformat() == "2026-11-20T15:00:00+00:00"
