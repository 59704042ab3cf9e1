"""The policy file's JSON Schema, and its complaints in the policy's own words.

Step 2 of validating a policy (`sla_core.policy.parse_policy`): the schema says what shapes and
values are allowed; each violation becomes a (node path, message) pair that the policy locates
by line.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from collections.abc import Mapping
from typing import Any

import jsonschema

from sla_core.policy_yaml import NodePath

__all__ = ["policy_schema", "schema_problems"]


def policy_schema() -> dict[str, Any]:
    """The JSON Schema of the policy file (schemas/policy.schema.json, shipped in the package)."""
    return dict(_validator().schema)


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    resource = importlib.resources.files("sla_core").joinpath("schemas/policy.schema.json")
    return jsonschema.Draft202012Validator(json.loads(resource.read_text(encoding="utf-8")))


_JSON_TYPES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "null": "null",
}


_YAML11_BOOLEANS = {"yes", "no", "y", "n", "on", "off"}


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else type(value).__name__


def schema_problems(data: Any) -> list[tuple[NodePath, str]]:
    """Schema violations as (path, message) pairs, in our words; conditions are left out."""
    out: list[tuple[NodePath, str]] = []
    for error in _validator().iter_errors(data):
        path: NodePath = tuple(error.absolute_path)
        if len(path) >= 3 and path[0] == "rules" and path[2] == "when":
            continue  # compile_condition reports these, with more precise messages
        out.extend(_describe(error, path))
    return out


def _describe(error: jsonschema.ValidationError, path: NodePath) -> list[tuple[NodePath, str]]:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    kind, value, instance = error.validator, error.validator_value, error.instance
    if "propertyNames" in error.relative_schema_path:
        path = (*path, str(instance))
    if "x-message" in schema:
        return [(path, f"{instance!r} {schema['x-message']}")]
    if kind == "additionalProperties" and isinstance(instance, Mapping):
        known = list(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        hint = f"; expected {', '.join(known)}" if known else ""
        return [
            ((*path, key), f"unknown key {key!r}{hint}")
            for key in instance
            if key not in known and not any(p.search(key) for p in patterns)
        ]
    if kind == "required" and isinstance(instance, Mapping):
        return [(path, f"missing key {key!r}") for key in value if key not in instance]
    if kind == "type":
        types = [value] if isinstance(value, str) else list(value)
        expected = " or ".join(_JSON_TYPES.get(t, t) for t in types)
        message = f"expected {expected}, got {_json_type(instance)}"
        if "boolean" in types and str(instance).lower() in _YAML11_BOOLEANS:
            message += f" ({instance!r} is not a boolean in YAML 1.2: write true or false)"
        return [(path, message)]
    if kind == "enum":
        return [(path, f"{instance!r} is not one of: {', '.join(map(str, value))}")]
    if kind in ("minProperties", "minItems"):
        return [(path, "must not be empty")]
    if kind == "uniqueItems":
        return [(path, "has repeated items")]
    return [(path, error.message)]
