"""The wire format of the domain's events: CloudEvents (structured and binary Kafka modes) to
ticket events, and SLA events to JSON and back. (Snapshots and logs have JSON of their own.)

Structured mode: the whole event is the record value (`content-type: application/cloudevents+json`).
Binary mode: the record value is `data` and the attributes travel in `ce_` headers. A record that
carries a `ce_specversion` header is read in binary mode, any other in structured mode.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, NoReturn

import msgspec
import orjson

from sla_core.events import TEXT_ATTRIBUTES, SlaEvent, TicketEvent

MAX_EVENT_BYTES: Final = 1_000_000
REQUIRED: Final = ("specversion", "id", "source", "type", "time", "subject", "data")
STRUCTURED_CONTENT_TYPE: Final = "application/cloudevents+json"

_TEXT: Final = frozenset(TEXT_ATTRIBUTES)
_loads: Final = orjson.loads
_fromisoformat: Final = datetime.fromisoformat


class DecodeError(ValueError):
    """A record that is not a valid ticket event; `reason` is a short stable code for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _text(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("bad_encoding", f"{what} is not valid UTF-8: {exc}") from exc


def parse_time(value: object, attribute: str = "time") -> datetime:
    """An RFC 3339 timestamp with an offset, as an aware datetime in UTC; DecodeError otherwise."""
    if type(value) is str and len(value) <= 40:
        try:
            parsed = _fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is UTC:  # "...Z" or "+00:00": the common case, nothing to convert
                return parsed
    return _parse_time_slowly(value, attribute)


def _parse_time_slowly(value: object, attribute: str) -> datetime:
    if not isinstance(value, str):
        raise DecodeError("wrong_type", f"attribute '{attribute}' must be a string")
    text = value.strip()
    if len(text) > 40:
        raise DecodeError("bad_time", f"attribute '{attribute}' is not an RFC 3339 time")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise DecodeError(
            "bad_time", f"attribute '{attribute}' is not an RFC 3339 time: {value!r}"
        ) from exc
    if parsed.tzinfo is None:
        raise DecodeError("bad_time", f"attribute '{attribute}' has no UTC offset: {value!r}")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise DecodeError(
            "bad_time", f"attribute '{attribute}' is out of range: {value!r}"
        ) from exc


def _envelope_from_headers(
    value: bytes | None, headers: Sequence[tuple[str, bytes]]
) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    for key, raw in headers:
        if key.startswith("ce_"):
            attrs[key[3:]] = _text(raw, f"header {key}")
    try:
        attrs["data"] = orjson.loads(value) if value else {}
    except orjson.JSONDecodeError as exc:
        raise DecodeError("not_json", f"binary-mode data is not JSON: {exc}") from exc
    return attrs


def decode_ticket_event(
    value: bytes | None, headers: Sequence[tuple[str, bytes]] = ()
) -> TicketEvent:
    """Decode one Kafka record into a TicketEvent, or raise DecodeError naming what is wrong.

    The engine calls this once per record: the common case (a structured-mode event whose
    attributes are all there and well typed) takes one pass with no lists or generators built,
    and every check that fails falls back to the code that names what is wrong.
    """
    if value is not None and len(value) > MAX_EVENT_BYTES:
        raise DecodeError("too_large", f"record of {len(value)} bytes exceeds {MAX_EVENT_BYTES}")
    if headers and any(key == "ce_specversion" for key, _ in headers):
        envelope: Any = _envelope_from_headers(value, headers)
    else:
        if not value:
            raise DecodeError("not_json", "record has no value")
        try:
            envelope = _loads(value)
        except orjson.JSONDecodeError as exc:
            if isinstance(value, bytes):
                _text(value, "record value")
            raise DecodeError("not_json", f"record value is not JSON: {exc}") from exc
    if type(envelope) is not dict:
        raise DecodeError("wrong_type", "a CloudEvent must be a JSON object")
    get = envelope.get
    event_id: Any = get("id")
    source: Any = get("source")
    type_: Any = get("type")
    subject: Any = get("subject")
    data: Any = get("data")
    if not (
        get("specversion") == "1.0"
        and type(event_id) is str
        and event_id
        and type(source) is str
        and source
        and type(type_) is str
        and type_
        and type(subject) is str
        and subject
        and type(data) is dict
        and "time" in envelope
    ):
        _explain_envelope(envelope)
    ticket = data.get("ticket")
    if ticket is None:
        ticket = {}
    elif type(ticket) is not dict:
        raise DecodeError("wrong_type", "data.ticket must be an object")
    channel = data.get("channel")
    if channel is not None and type(channel) is not str:
        raise DecodeError("wrong_type", "data.channel must be a string")
    automated = data.get("automated", False)
    if type(automated) is not bool:
        raise DecodeError("wrong_type", "data.automated must be a boolean")
    for name, item in ticket.items():  # only what is present: most events carry a few
        if item is None or (name in _TEXT and type(item) is str):
            continue
        _check_attribute(name, item)
    return TicketEvent(
        event_id, source, type_, parse_time(envelope["time"]), subject, ticket, channel, automated
    )


# The identity of a whole, well-typed structured-mode record, checked in one pass in C: the
# same checks as `decode_ticket_event` (envelope attributes, data, data.ticket's attribute
# types), so a record that passes here would pass there. Anything else takes the full decode.
_NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
_IdentityTicket = msgspec.defstruct(
    "_IdentityTicket",
    [
        *((name, str | None, None) for name in TEXT_ATTRIBUTES),
        ("tags", list[str] | None, None),
        ("custom_fields", dict[str, Any] | None, None),
        ("created_from_invitation", bool | None, None),
    ],
)


class _IdentityData(msgspec.Struct):
    ticket: _IdentityTicket | None = None  # type: ignore[valid-type]
    channel: str | None = None
    automated: bool = False


class _Identity(msgspec.Struct):
    specversion: Literal["1.0"]
    id: _NonEmpty
    source: _NonEmpty
    type: _NonEmpty
    subject: _NonEmpty
    time: str
    data: _IdentityData


_decode_identity: Final = msgspec.json.Decoder(_Identity).decode
EventIdentity = tuple[datetime, str, str, str, str]  # time, source, id, type, ticket_id


def decode_identity(
    value: bytes | None, headers: Sequence[tuple[str, bytes]] = ()
) -> EventIdentity:
    """What `decode_ticket_event` would decode of the record's identity (time, source, id,
    type, ticket id), or the DecodeError it would raise, at a fraction of its cost for the
    common case. For readers that keep records as they are (the archive) and need only who and
    when: the attributes of data.ticket are checked, not built."""
    if (
        value is not None
        and len(value) <= MAX_EVENT_BYTES
        and not (headers and any(key == "ce_specversion" for key, _ in headers))
    ):
        try:
            found = _decode_identity(value)
        except msgspec.DecodeError:
            pass  # the full decode names what is wrong (or accepts what msgspec would not)
        else:
            return parse_time(found.time), found.source, found.id, found.type, found.subject
    event = decode_ticket_event(value, headers)
    return event.time, event.source, event.id, event.type, event.ticket_id


def _explain_envelope(envelope: dict[str, Any]) -> NoReturn:
    """Raise the DecodeError of the first problem of an envelope that failed the fast check."""
    missing = [name for name in REQUIRED if name not in envelope]
    if missing:
        raise DecodeError(
            "missing_attribute", f"missing required attribute(s): {', '.join(missing)}"
        )
    if envelope["specversion"] != "1.0":
        raise DecodeError(
            "bad_specversion", f"specversion must be '1.0', not {envelope['specversion']!r}"
        )
    for name in ("id", "source", "type", "subject"):
        if not isinstance(envelope[name], str) or not envelope[name]:
            raise DecodeError("wrong_type", f"attribute '{name}' must be a non-empty string")
    raise DecodeError("wrong_type", "attribute 'data' must be an object")


def _check_attribute(name: str, item: Any) -> None:
    """Raise DecodeError when a present, non-null data.ticket attribute has the wrong type."""
    if name in _TEXT:
        if not isinstance(item, str):
            raise DecodeError("wrong_type", f"data.ticket.{name} must be a string or null")
    elif name == "tags":
        if not (isinstance(item, list) and all(isinstance(t, str) for t in item)):
            raise DecodeError("wrong_type", "data.ticket.tags must be a list of strings")
    elif name == "custom_fields":
        if not isinstance(item, dict):
            raise DecodeError("wrong_type", "data.ticket.custom_fields must be an object")
    elif name == "created_from_invitation" and not isinstance(item, bool):
        raise DecodeError("wrong_type", "data.ticket.created_from_invitation must be a boolean")


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a Z, microseconds only when present."""
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def encode_ticket_event(
    *, event_id: str, source: str, type: str, time: datetime, ticket_id: str, data: dict[str, Any]
) -> bytes:
    """A structured-mode ticket event (used by producers, the demo and tests)."""
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": source,
            "type": type,
            "time": format_time(time),
            "subject": ticket_id,
            "datacontenttype": "application/json",
            "data": data,
        }
    )


def encode_sla_event(event: SlaEvent, *, source: str, emitted_at: datetime) -> bytes:
    """The structured-mode CloudEvent for an SLA event, stamped with the engine's `source` and the
    wall-clock `emitted_at` (the last key of `data`). Times come out as RFC 3339 with a Z,
    microseconds only when present."""
    return _encode_sla(
        _replace(event, source=source, data=_replace(event.data, emitted_at=emitted_at))
    )


_encode_sla: Final = msgspec.json.Encoder().encode
_decode_sla: Final = msgspec.json.Decoder(SlaEvent).decode
_replace: Final = msgspec.structs.replace
# The reason of a validation error by the attribute it is about, then by what msgspec says.
_REASON_BY_PATH: Final = {"$.type": "unknown_type", "$.specversion": "bad_specversion"}
_REASON_BY_MESSAGE: Final = (
    ("missing required field", "missing_field"),
    ("of length >= 1", "missing_field"),
    ("datetime", "bad_time"),
)
_MISSING: Final = re.compile(r"missing required field `([^`]+)`")


def _reason(message: str) -> str:
    """The short reason of a msgspec validation error ("Expected `str`, got `int` - at `$.id`")."""
    text, _, at = message.partition(" - at `")
    about = at.rstrip("`") or "$"
    missing = _MISSING.search(text)
    if missing is not None:
        about = f"{about}.{missing[1]}"
    reason = _REASON_BY_PATH.get(about)
    if reason is None:
        found = (r for fragment, r in _REASON_BY_MESSAGE if fragment in text)
        reason = next(found, "wrong_type")
    return reason


def decode_sla_event(value: bytes) -> SlaEvent:
    """Decode and validate an SLA event (report side); DecodeError names the reason: not_json,
    missing_field, wrong_type, bad_time, unknown_type (not an SLA type) or bad_specversion.

    An event of an older engine that lacks a field with a default gets the default; `source`
    and `data.emitted_at` are UNSET when absent."""
    try:
        return _decode_sla(value)
    except msgspec.ValidationError as exc:
        raise DecodeError(_reason(str(exc)), f"SLA event: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise DecodeError("not_json", f"SLA event is not JSON: {exc}") from exc


SLA_EVENT_SCHEMA_ID: Final = "https://sla-engine.dev/schemas/sla-event.schema.json"


def sla_event_schema() -> dict[str, Any]:
    """The JSON Schema of the SLA event as the engine sends it (schemas/sla-event.schema.json is
    this, written out), generated from `SlaEvent`.

    What it adds to the type: `specversion`, `source` and `data.emitted_at` are required, because
    every event the engine sends has them (the type defaults the first and leaves the others
    unset until the edge stamps them)."""
    generated = msgspec.json.schema(SlaEvent)
    definitions = generated["$defs"]
    root = definitions.pop("SlaEvent")
    root.pop("title")
    root["required"] = ["specversion", *root["required"][:1], "source", *root["required"][1:]]
    data = definitions["SlaEventData"]
    data["required"] = [*data["required"], "emitted_at"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SLA_EVENT_SCHEMA_ID,
        "$comment": "Generated from sla_core.events.SlaEvent by sla_core.codec.sla_event_schema; "
        "do not edit (regenerate: SLA_SCHEMA_WRITE=1 pytest tests/unit/test_sla_event_schema.py).",
        "title": "SLA lifecycle event (CloudEvents 1.0, structured mode)",
        **root,
        "description": "Emitted by sla-engine on sla.events (all types) and sla.breaches (warning, "
        "breached), keyed by ticket id. SPEC.md section 5. The id is deterministic: the same input "
        "log gives the same ids.",
        "$defs": definitions,
    }
