"""schemas/asyncapi.yaml against the code: topics, schema files, examples, dead-letter headers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from sla_core.codec import DecodeError, decode_sla_event, decode_ticket_event
from sla_engine.adapters.kafka import dead_letter_headers
from sla_engine.config import EngineSettings

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
DOCUMENT = SCHEMAS / "asyncapi.yaml"
JSON_SCHEMA_FORMATS = {
    "application/schema+json;version=draft-2020-12",
    "application/schema+json;version=2020-12",
}
BREACH_TYPES = {"sla.warning", "sla.breached"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    loaded = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def registry() -> Registry:
    """Every schema file, under its file URI (how asyncapi.yaml refers to it) and its $id."""
    resources = []
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(contents, default_specification=DRAFT202012)
        resources.append((path.as_uri(), resource))
        if "$id" in contents:
            resources.append((contents["$id"], resource))
    return Registry().with_resources(resources)


def _pointer(document: Any, pointer: str) -> Any:
    node = document
    for raw in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
        key = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(key)] if isinstance(node, list) else node[key]
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _deref(doc: dict[str, Any], node: Any) -> Any:
    """Follow internal references (#/...) of the AsyncAPI document."""
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        assert node["$ref"].startswith("#/"), node["$ref"]
        node = _pointer(doc, node["$ref"][1:])
    return node


def _payload_schema(doc: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """The message's payload as a JSON Schema whose relative file refs resolve in schemas/."""
    payload = _deref(doc, message["payload"])
    if "schemaFormat" in payload:
        assert payload["schemaFormat"] in JSON_SCHEMA_FORMATS
        payload = payload["schema"]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": DOCUMENT.as_uri()} | {
        k: v for k, v in payload.items() if k not in ("$schema", "$id")
    }


def _headers_schema(doc: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = _deref(doc, message["headers"])
    return schema


def _validator(schema: dict[str, Any], registry: Registry) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry, format_checker=FormatChecker())


def _channel_by_address(doc: dict[str, Any], address: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in doc["channels"].values() if c["address"] == address]
    assert len(found) == 1, f"one channel with address {address!r}, found {len(found)}"
    return found[0]


def _messages(doc: dict[str, Any], address: str) -> dict[str, dict[str, Any]]:
    channel = _channel_by_address(doc, address)
    return {name: _deref(doc, m) for name, m in channel["messages"].items()}


def _examples() -> list[Path]:
    return sorted((SCHEMAS / "examples").glob("*.json"))


def test_asyncapi_version_and_servers(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert all(server["protocol"] == "kafka" for server in doc["servers"].values())


def test_channels_are_the_settings_default_topics(doc: dict[str, Any]) -> None:
    settings = EngineSettings()
    expected = {
        settings.ticket_topic: "receive",
        settings.events_topic: "send",
        settings.breach_topic: "send",
        settings.dlq_topic: "send",
    }
    assert {c["address"] for c in doc["channels"].values()} == set(expected)
    for channel in doc["channels"].values():
        kafka = channel["bindings"]["kafka"]
        assert kafka["topic"] == channel["address"]
        assert kafka["partitions"] >= 1
    actions: dict[str, set[str]] = {}
    for operation in doc["operations"].values():
        channel = _deref(doc, operation["channel"])
        actions.setdefault(channel["address"], set()).add(operation["action"])
        # An operation's messages are messages of its channel.
        channel_refs = {
            f"{operation['channel']['$ref']}/messages/{name}" for name in channel["messages"]
        }
        for message in operation["messages"]:
            assert message["$ref"] in channel_refs
    assert actions == {address: {action} for address, action in expected.items()}


def test_engine_consumer_group_is_the_settings_default(doc: dict[str, Any]) -> None:
    settings = EngineSettings()
    (receive,) = [op for op in doc["operations"].values() if op["action"] == "receive"]
    assert receive["bindings"]["kafka"]["groupId"]["default"] == settings.engine_group_id


def test_every_reference_resolves(doc: dict[str, Any]) -> None:
    refs = set(_refs(doc))
    assert any(not ref.startswith("#") for ref in refs), "payloads refer to the schema files"
    for ref in refs:
        target, _, fragment = ref.partition("#")
        if target:
            path = (DOCUMENT.parent / target).resolve()
            assert path.is_file(), f"{ref}: {path} does not exist"
            document = json.loads(path.read_text(encoding="utf-8"))
        else:
            document = doc
        try:
            _pointer(document, fragment)
        except (KeyError, IndexError, ValueError) as exc:
            raise AssertionError(f"{ref}: {fragment} does not resolve") from exc


def test_every_message_is_keyed_by_ticket_id_and_has_valid_schemas(
    doc: dict[str, Any], registry: Registry
) -> None:
    messages = doc["components"]["messages"]
    assert set(messages) >= {
        "TicketEventStructured",
        "TicketEventBinary",
        "SlaEvent",
        "SlaBreach",
        "DeadLetter",
    }
    for name, message in messages.items():
        assert "string" in str(_deref(doc, message["bindings"]["kafka"]["key"])["type"]), name
        validator = _validator(_payload_schema(doc, message), registry)
        Draft202012Validator.check_schema(_headers_schema(doc, message))
        for example in message.get("examples", []):
            errors = [e.message for e in validator.iter_errors(example["payload"])]
            assert not errors, f"{name} example {example.get('name')}: {errors}"
            headers = _validator(_headers_schema(doc, message), registry)
            errors = [e.message for e in headers.iter_errors(example["headers"])]
            assert not errors, f"{name} example {example.get('name')} headers: {errors}"


def test_structured_messages_declare_the_cloudevents_content_type(doc: dict[str, Any]) -> None:
    for address in (EngineSettings().ticket_topic, EngineSettings().events_topic):
        structured = [
            m
            for m in _messages(doc, address).values()
            if m["contentType"] == "application/cloudevents+json"
        ]
        assert structured, address
        for message in structured:
            header = _headers_schema(doc, message)["properties"]["content-type"]
            assert header["const"] == "application/cloudevents+json"


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.name)
def test_examples_validate_against_their_channel(
    path: Path, doc: dict[str, Any], registry: Registry
) -> None:
    settings = EngineSettings()
    event = json.loads(path.read_text(encoding="utf-8"))
    kind = event["type"].split(".")[0]
    addresses = {
        "ticket": [settings.ticket_topic],
        "sla": [settings.events_topic]
        + ([settings.breach_topic] if event["type"] in BREACH_TYPES else []),
    }[kind]
    for address in addresses:
        structured = [
            m
            for m in _messages(doc, address).values()
            if m["contentType"] == "application/cloudevents+json"
        ]
        for message in structured:
            errors = [
                e.message
                for e in _validator(_payload_schema(doc, message), registry).iter_errors(event)
            ]
            assert not errors, f"{path.name} on {address}: {errors}"


@pytest.mark.parametrize(
    "path", [p for p in _examples() if p.name.startswith("ticket.")], ids=lambda p: p.name
)
def test_ticket_examples_in_binary_mode(
    path: Path, doc: dict[str, Any], registry: Registry
) -> None:
    """The binary-mode description fits the structured examples and the engine's decoder."""
    event = json.loads(path.read_text(encoding="utf-8"))
    headers = {
        f"ce_{name}": value
        for name, value in event.items()
        if name not in ("data", "datacontenttype")
    }
    headers["content-type"] = event.get("datacontenttype", "application/json")
    (binary,) = [
        m
        for m in _messages(doc, EngineSettings().ticket_topic).values()
        if "ce_specversion" in _headers_schema(doc, m).get("required", [])
    ]
    header_errors = list(_validator(_headers_schema(doc, binary), registry).iter_errors(headers))
    payload_errors = list(
        _validator(_payload_schema(doc, binary), registry).iter_errors(event["data"])
    )
    assert not header_errors and not payload_errors, [
        e.message for e in header_errors + payload_errors
    ]
    decoded = decode_ticket_event(
        json.dumps(event["data"]).encode(),
        [(name, value.encode()) for name, value in headers.items()],
    )
    assert (decoded.id, decoded.type, decoded.ticket_id) == (
        event["id"],
        event["type"],
        event["subject"],
    )


def test_dead_letter_headers_are_the_ones_the_engine_writes(
    doc: dict[str, Any], registry: Registry
) -> None:
    settings = EngineSettings()
    (message,) = _messages(doc, settings.dlq_topic).values()
    schema = _headers_schema(doc, message)
    record = SimpleNamespace(
        headers=[("ce_specversion", b"1.0"), ("traceparent", b"00-abc-def-01")],
        partition=3,
        offset=1042,
        timestamp=1795427400000,
        key=b"T-1001",
        value=b"<html>",
    )
    written = dead_letter_headers(record, settings.ticket_topic, DecodeError("not_json", "bad"))
    as_text = {name: value.decode() for name, value in written}
    errors = [e.message for e in _validator(schema, registry).iter_errors(as_text)]
    assert not errors, errors
    # The original headers are kept, and every documented header is one the engine writes.
    assert as_text["traceparent"] == "00-abc-def-01"
    assert set(schema["properties"]) <= set(as_text)
    assert as_text["__connect.errors.topic"] == settings.ticket_topic
    assert as_text["__connect.errors.timestamp"] == "1795427400000"


def test_sla_events_carry_the_timers_zone(doc: dict[str, Any], registry: Registry) -> None:
    """The SLA event payload names the zone a timer's calendar is read in and why (SPEC 8), and
    refuses a source other than calendar, ticket and default."""
    description = _channel_by_address(doc, EngineSettings().events_topic)["description"]
    assert "timezone" in description and "timezone_source" in description
    example = json.loads((SCHEMAS / "examples" / "sla.breached.json").read_text(encoding="utf-8"))
    assert (example["data"]["timezone"], example["data"]["timezone_source"]) == (
        "Europe/Oslo",
        "calendar",
    )
    message = _messages(doc, EngineSettings().events_topic)["slaEvent"]
    validator = _validator(_payload_schema(doc, message), registry)
    for source in ("calendar", "ticket", "default"):
        example["data"]["timezone_source"] = source
        assert not list(validator.iter_errors(example))
    example["data"]["timezone_source"] = "guess"
    assert list(validator.iter_errors(example))


def test_sla_events_name_the_cancel_reasons_and_the_periodic_update(
    doc: dict[str, Any], registry: Registry
) -> None:
    """SPEC 5 and 8: the channel names every reason of sla.cancelled and the periodic_update
    metric; the cancelled example (a periodic update ended by the close) is what the engine's
    codec reads, and the schema takes periodic_update as a metric."""
    description = _channel_by_address(doc, EngineSettings().events_topic)["description"]
    for reason in ("reset", "cancel_condition", "closed", "deleted", "level_change"):
        assert f"`{reason}`" in description
    assert "`periodic_update`" in description
    raw = (SCHEMAS / "examples" / "sla.cancelled.json").read_bytes()
    event = decode_sla_event(raw)
    assert (event.type, event.data.metric, event.data.reason) == (
        "sla.cancelled",
        "periodic_update",
        "closed",
    )
    message = _messages(doc, EngineSettings().events_topic)["slaEvent"]
    validator = _validator(_payload_schema(doc, message), registry)
    example = json.loads(raw)
    assert not list(validator.iter_errors(example))
    example["data"]["metric"] = "periodic_updates"
    assert list(validator.iter_errors(example))
