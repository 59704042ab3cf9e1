"""The CloudEvents codec: ticket events in (structured and binary mode), SLA events out.

Every way a record can be bad has its own stable reason (the dead-letter header and the metric
label), and a good record decodes to the same TicketEvent in either mode."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from msgspec import UNSET
from msgspec.structs import replace

from sla_core.codec import (
    MAX_EVENT_BYTES,
    DecodeError,
    decode_sla_event,
    decode_ticket_event,
    encode_sla_event,
    encode_ticket_event,
    format_time,
)
from sla_core.events import SlaEvent, SlaEventData

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def envelope(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "helpdesk/eu",
        "type": "ticket.created",
        "time": "2026-11-20T16:00:00+01:00",
        "subject": "T-1",
        "data": {"ticket": {"department": "support", "tags": ["vip"], "status": "open"}},
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not ...}


def reason(value: bytes | None, headers: list[tuple[str, bytes]] | None = None) -> str:
    with pytest.raises(DecodeError) as caught:
        decode_ticket_event(value, headers or [])
    return caught.value.reason


def test_structured_mode_decodes_and_normalises_the_time_to_utc() -> None:
    event = decode_ticket_event(orjson.dumps(envelope()))
    assert (event.id, event.source, event.type, event.ticket_id) == (
        "evt-1",
        "helpdesk/eu",
        "ticket.created",
        "T-1",
    )
    assert event.time == datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    assert event.time.tzinfo is UTC
    assert event.ticket == {"department": "support", "tags": ["vip"], "status": "open"}
    assert event.dedup_key == "helpdesk/eu\x1fevt-1"


def test_binary_mode_equals_structured_mode() -> None:
    whole = envelope(data={"channel": "chat", "automated": True, "ticket": {"agent": None}})
    headers = [(f"ce_{k}", str(v).encode()) for k, v in whole.items() if k != "data"]
    binary = decode_ticket_event(orjson.dumps(whole["data"]), headers)
    structured = decode_ticket_event(orjson.dumps(whole))
    assert binary == structured
    assert (binary.channel, binary.automated) == ("chat", True)


def test_encode_then_decode_round_trips() -> None:
    at = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=1)))
    raw = encode_ticket_event(
        event_id="e", source="s", type="ticket.answered", time=at, ticket_id="T", data={}
    )
    event = decode_ticket_event(raw)
    assert event.time == at and event.type == "ticket.answered"
    assert orjson.loads(raw)["time"] == "2026-03-28T23:59:59.999999Z"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"", "not_json"),
        (b"{not json", "not_json"),
        (b'{"truncated": ', "not_json"),
        (b"\xff\xfe{}", "bad_encoding"),
        (b"[1, 2]", "wrong_type"),
        (b'"a string"', "wrong_type"),
        (orjson.dumps(envelope(subject=...)), "missing_attribute"),
        (orjson.dumps(envelope(data=...)), "missing_attribute"),
        (orjson.dumps(envelope(time=...)), "missing_attribute"),
        (orjson.dumps(envelope(specversion="0.3")), "bad_specversion"),
        (orjson.dumps(envelope(id=7)), "wrong_type"),
        (orjson.dumps(envelope(subject="")), "wrong_type"),
        (orjson.dumps(envelope(data=[1])), "wrong_type"),
        (orjson.dumps(envelope(data={"ticket": "x"})), "wrong_type"),
        (orjson.dumps(envelope(data={"channel": 3})), "wrong_type"),
        (orjson.dumps(envelope(data={"automated": "yes"})), "wrong_type"),
        (orjson.dumps(envelope(data={"ticket": {"tags": "vip"}})), "wrong_type"),
        (orjson.dumps(envelope(data={"ticket": {"tags": [1]}})), "wrong_type"),
        (orjson.dumps(envelope(data={"ticket": {"custom_fields": []}})), "wrong_type"),
        (orjson.dumps(envelope(data={"ticket": {"department": ["a"]}})), "wrong_type"),
        (orjson.dumps(envelope(data={"ticket": {"created_from_invitation": 1}})), "wrong_type"),
        (orjson.dumps(envelope(data={"ticket": {"team": 7}})), "wrong_type"),
        (orjson.dumps(envelope(data={"ticket": {"customer_timezone": 545}})), "wrong_type"),
        (orjson.dumps(envelope(time="yesterday")), "bad_time"),
        (orjson.dumps(envelope(time="2026-11-20T16:00:00")), "bad_time"),  # no offset
        (orjson.dumps(envelope(time="2026-13-20T16:00:00Z")), "bad_time"),
        (orjson.dumps(envelope(time="0001-01-01T00:00:00+05:00")), "bad_time"),  # out of range
        (orjson.dumps(envelope(time=1763650800)), "wrong_type"),
        (b" " * (MAX_EVENT_BYTES + 1), "too_large"),
    ],
)
def test_every_bad_record_has_its_reason(value: bytes, expected: str) -> None:
    assert reason(value) == expected


def test_binary_mode_errors() -> None:
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"\xff"), ("ce_source", b"s")]
    assert reason(b"{}", headers) == "bad_encoding"
    assert reason(b"{oops", [("ce_specversion", b"1.0")]) == "not_json"
    assert reason(b"{}", [("ce_specversion", b"1.0"), ("ce_id", b"x")]) == "missing_attribute"


def test_absent_and_null_attributes_are_allowed() -> None:
    event = decode_ticket_event(orjson.dumps(envelope(data={"ticket": None})))
    assert event.ticket == {}
    event = decode_ticket_event(orjson.dumps(envelope(data={"ticket": {"agent": None}})))
    assert event.ticket == {"agent": None}


def test_team_and_customer_timezone_are_text_attributes() -> None:
    """SPEC 2: text or null. A text that names no zone is not the codec's business: the engine
    falls back to the calendar's default zone (SPEC 8), it is never dead-lettered."""
    ticket = {"team": "first-line", "customer_timezone": "Asia/Kathmandoo"}
    event = decode_ticket_event(orjson.dumps(envelope(data={"ticket": ticket})))
    assert event.ticket == ticket
    nulls = {"team": None, "customer_timezone": None}
    assert decode_ticket_event(orjson.dumps(envelope(data={"ticket": nulls}))).ticket == nulls


def test_format_time_is_utc_with_z_and_microseconds_only_when_present() -> None:
    oslo = timezone(timedelta(hours=2))
    assert format_time(datetime(2026, 6, 1, 12, 0, tzinfo=oslo)) == "2026-06-01T10:00:00Z"
    assert format_time(datetime(2026, 6, 1, 12, 0, 0, 5, tzinfo=UTC)) == (
        "2026-06-01T12:00:00.000005Z"
    )


def breach_event() -> SlaEvent:
    due = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    data = SlaEventData(
        timer_id="T-1:first_answer:1",
        ticket_id="T-1",
        metric="first_answer",
        level="standard",
        target_seconds=14400.0,
        started_at=datetime(2026, 11, 20, 15, 0, 0, 5, tzinfo=UTC),
        due_at=due,
        stopped_at=None,
        elapsed_seconds=14400.0,
        remaining_seconds=0.0,
        breached=True,
        paused=False,
        department="support",
        tags=["billing"],
    )
    return SlaEvent(
        id="T-1:first_answer:1/2:sla.breached",
        type="sla.breached",
        time=due,
        ticket_id="T-1",
        data=data,
    )


def test_sla_events_round_trip_and_match_the_schema() -> None:
    event = breach_event()
    emitted = event.time + timedelta(seconds=2)
    raw = encode_sla_event(event, source="sla-engine", emitted_at=emitted)
    as_json = json.loads(raw)
    jsonschema.validate(
        as_json,
        json.loads((SCHEMAS / "sla-event.schema.json").read_text()),
        format_checker=jsonschema.FormatChecker(),
    )
    assert as_json["time"] == "2026-11-23T11:00:00Z"
    assert as_json["data"]["due_at"] == "2026-11-23T11:00:00Z"
    assert as_json["data"]["started_at"] == "2026-11-20T15:00:00.000005Z"
    assert list(as_json["data"])[-1] == "emitted_at"  # stamped last, as it always was
    assert as_json["data"]["emitted_at"] == "2026-11-23T11:00:02Z"
    assert as_json["subject"] == "T-1" and as_json["id"] == event.id
    assert list(as_json) == [
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "subject",
        "datacontenttype",
        "data",
    ]
    decoded = decode_sla_event(raw)
    assert decoded == replace(
        event, source="sla-engine", data=replace(event.data, emitted_at=emitted)
    )
    assert event.source is UNSET and event.data.emitted_at is UNSET  # the event is not changed


def _sla_reason(value: bytes) -> str:
    with pytest.raises(DecodeError) as caught:
        decode_sla_event(value)
    return caught.value.reason


def _breach_json(**changes: Any) -> bytes:
    event = json.loads(encode_sla_event(breach_event(), source="s", emitted_at=datetime.now(UTC)))
    for path, value in changes.items():
        node, *keys = path.split("__")
        target = event if not keys else event[node]
        key = keys[0] if keys else node
        if value is ...:
            del target[key]
        else:
            target[key] = value
    return json.dumps(event).encode()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"type": "ticket.created"}, "unknown_type"),
        ({"type": ...}, "unknown_type"),
        ({"specversion": "0.3"}, "bad_specversion"),
        ({"id": ...}, "missing_field"),
        ({"id": ""}, "missing_field"),
        ({"id": 7}, "wrong_type"),
        ({"data": 1}, "wrong_type"),
        ({"data__level": ...}, "missing_field"),
        ({"data__level": ""}, "missing_field"),
        ({"data__target_seconds": True}, "wrong_type"),
        ({"data__cycle": "1"}, "wrong_type"),
        ({"data__tags": [1]}, "wrong_type"),
        ({"data__metric": "lunch"}, "wrong_type"),
        ({"time": "yesterday"}, "bad_time"),
        ({"time": "2026-11-20T16:00:00"}, "bad_time"),  # no offset
        ({"data__due_at": "2026-13-20T16:00:00Z"}, "bad_time"),
    ],
)
def test_every_bad_sla_event_has_its_reason(changes: dict[str, Any], expected: str) -> None:
    assert _sla_reason(_breach_json(**changes)) == expected


def test_bad_sla_event_values() -> None:
    assert _sla_reason(b"nope") == "not_json"
    assert _sla_reason(b"\xff") == "not_json"
    assert _sla_reason(b"[1]") == "wrong_type"
    assert _sla_reason(b'{"data": 1}') == "wrong_type"


def test_an_older_engines_event_decodes_with_the_defaults() -> None:
    """Fields added since (cycle, breached, paused, ticket_deleted, ...) are optional."""
    older = _breach_json(
        data__cycle=...,
        data__breached=...,
        data__paused=...,
        data__ticket_deleted=...,
        data__reason=...,
        data__tags=...,
        data__emitted_at=...,
    )
    data = decode_sla_event(older).data
    assert (data.cycle, data.breached, data.paused, data.ticket_deleted) == (1, UNSET, UNSET, False)
    assert (data.reason, data.tags, data.emitted_at) == (None, [], UNSET)


@pytest.mark.parametrize("name", ["ticket.created", "ticket.answered"])
def test_schema_examples_decode(name: str) -> None:
    raw = (SCHEMAS / "examples" / f"{name}.json").read_bytes()
    schema = json.loads((SCHEMAS / "ticket-event.schema.json").read_text())
    jsonschema.validate(json.loads(raw), schema)
    assert decode_ticket_event(raw).type == name
