"""A JSON Lines file of ticket events, checked line by line before anything is published.

Each line is checked twice: against the JSON Schema (schemas/ticket-event.schema.json, shipped in
this package; a test keeps the copies identical), which names the path of every problem, and by
the engine's own decoder (sla_core.codec.decode_ticket_event), so that a line accepted here is a
line the engine accepts. Blank lines and lines starting with `#` are skipped.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from sla_core.codec import DecodeError, decode_ticket_event


@dataclass(frozen=True)
class TicketLine:
    """One valid line: its number, the ticket id (the record key) and the bytes to publish."""

    number: int
    ticket_id: str
    value: bytes


@dataclass
class CheckedFile:
    events: list[TicketLine] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    bad_lines: int = 0


_REQUIRED = re.compile(r"^'(.+)' is a required property$")


@cache
def _validator() -> Draft202012Validator:
    resource = importlib.resources.files("sla_devtools").joinpath(
        "schemas/ticket-event.schema.json"
    )
    return Draft202012Validator(json.loads(resource.read_text(encoding="utf-8")))


def _path(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    required = _REQUIRED.match(error.message) if error.validator == "required" else None
    if required:  # name the missing attribute itself, not its parent
        parts.append(required.group(1))
    return ".".join(parts) or "(event)"


def _message(error: ValidationError) -> str:
    if error.validator == "required":
        return "is required"
    return str(error.message)


def schema_errors(event: Any) -> Iterator[str]:
    """`path: message` for every place where `event` breaks the schema, in path order."""
    errors = sorted(_validator().iter_errors(event), key=lambda e: [str(p) for p in e.path])
    for error in errors:
        yield f"{_path(error)}: {_message(error)}"


def line_errors(text: str) -> list[str]:
    """What is wrong with one line (an empty list when the engine will accept it)."""
    try:
        event = json.loads(text)
    except json.JSONDecodeError as exc:
        return [f"not JSON: {exc.msg} (column {exc.colno})"]
    problems = list(schema_errors(event))
    if problems:
        return problems
    try:
        decode_ticket_event(text.encode("utf-8"))
    except DecodeError as exc:
        return [str(exc)]
    return []


def check_lines(lines: Iterable[str]) -> CheckedFile:
    """Check every line; the result holds the valid events and `line N: ...` errors."""
    checked = CheckedFile()
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        problems = line_errors(text)
        if problems:
            checked.errors.extend(f"line {number}: {problem}" for problem in problems)
            checked.bad_lines += 1
            continue
        subject = json.loads(text)["subject"]
        checked.events.append(TicketLine(number, subject, text.encode("utf-8")))
    return checked
