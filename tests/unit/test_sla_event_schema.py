"""schemas/sla-event.schema.json is generated from sla_core's SlaEvent and kept in step here.

A change to the type regenerates the file:
`SLA_SCHEMA_WRITE=1 pytest tests/unit/test_sla_event_schema.py`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker

from sla_core.codec import decode_sla_event, sla_event_schema

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SCHEMA_FILE = SCHEMAS / "sla-event.schema.json"


def render() -> str:
    return json.dumps(sla_event_schema(), indent=2, ensure_ascii=False) + "\n"


def test_the_committed_schema_is_the_generated_one() -> None:
    if os.environ.get("SLA_SCHEMA_WRITE"):
        SCHEMA_FILE.write_text(render(), encoding="utf-8")
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render(), (
        "schemas/sla-event.schema.json is stale: regenerate it (see this module's docstring)"
    )


def test_the_schema_is_valid_and_the_examples_decode_to_the_type() -> None:
    Draft202012Validator.check_schema(sla_event_schema())
    validator = Draft202012Validator(sla_event_schema(), format_checker=FormatChecker())
    examples = sorted((SCHEMAS / "examples").glob("sla.*.json"))
    assert examples
    for path in examples:
        raw = path.read_bytes()
        assert not list(validator.iter_errors(json.loads(raw))), path.name
        assert decode_sla_event(raw).type == path.name.removesuffix(".json")
