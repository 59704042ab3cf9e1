"""Reading a policy document: YAML to plain data, with the line of every key and list item.

Problems in a policy are reported by *node path*, a tuple of mapping keys and list indexes
(`("levels", "gold", "targets", "first_answer")`), rendered as a dotted path
(`levels.gold.targets.first_answer`, `rules[2].when.all[0].op`; list indexes count from 0) and
located by the line the key or item starts on.

The YAML dialect is PyYAML's safe loader with YAML 1.2 scalars: only `true`/`false` are booleans
(so `country: NO` stays the string "NO"), and dates, times and sexagesimal numbers stay strings
(`2026-12-24`, `09:00`), as the JSON Schema expects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

NodePath = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def format_path(path: Iterable[str | int]) -> str:
    """Render a node path: `levels.gold.targets`, `rules[2].when.all[0]`, `calendars["24/7"]`.

    Keys that are not plain identifiers are quoted in brackets; the empty path renders as "".
    """
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _PLAIN_KEY.fullmatch(part):
            out.append(f".{part}" if out else part)
        else:
            quoted = part.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'["{quoted}"]')
    return "".join(out)


class _PolicyLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans and numbers, and no implicit timestamps."""


_YAML11_TAGS = {
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
}
_PolicyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _YAML11_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PolicyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_PolicyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_PolicyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+)"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


@dataclass
class YamlDocument:
    """A parsed YAML document: its data, the line of each node path, and structural problems."""

    data: Any = None
    lines: dict[NodePath, int] = field(default_factory=dict)
    # (path, message, line): line None means the line of the path
    problems: list[tuple[NodePath, str, int | None]] = field(default_factory=list)
    usable: bool = True  # False when data cannot be validated (syntax error, odd keys, cycles)

    def line_of(self, path: NodePath) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one (None for no document)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def read_yaml(text: str) -> YamlDocument:
    """Parse one YAML document and record the line of every mapping key and list item.

    Never raises on bad input: syntax errors, duplicate keys, non-string keys and recursive
    aliases come back as problems (with `usable` False for all but duplicate keys).
    """
    doc = YamlDocument()
    loader = _PolicyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            doc.lines[()] = 1
            return doc
        doc.lines[()] = node.start_mark.line + 1
        _walk(node, (), doc, set())
        if doc.usable:
            doc.data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        doc.lines[()] = line
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        doc.problems.append(((), f"YAML syntax error: {reason or exc}", line))
        doc.usable = False
    except yaml.YAMLError as exc:
        doc.lines.setdefault((), 1)
        doc.problems.append(((), f"YAML error: {exc}", None))
        doc.usable = False
    finally:
        loader.dispose()
    return doc


def _walk(node: yaml.Node, path: NodePath, doc: YamlDocument, active: set[int]) -> None:
    if id(node) in active:
        doc.problems.append((path, "a YAML alias refers to itself", None))
        doc.usable = False
        return
    if isinstance(node, yaml.MappingNode):
        active.add(id(node))
        seen: set[str] = set()
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                _walk(value_node, path, doc, active)  # merged keys: lines of their origin
                continue
            line = key_node.start_mark.line + 1
            if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag.endswith(":str")):
                key_path = (*path, str(key_node.value))
                doc.problems.append((key_path, "a key must be a string (quote it)", line))
                doc.usable = False
                continue
            key = str(key_node.value)
            child = (*path, key)
            if key in seen:
                first = doc.lines.get(child)
                doc.problems.append((child, f"duplicate key {key!r} (first on line {first})", line))
            else:
                doc.lines[child] = line
                seen.add(key)
            _walk(value_node, child, doc, active)
        active.discard(id(node))
    elif isinstance(node, yaml.SequenceNode):
        active.add(id(node))
        for index, item in enumerate(node.value):
            doc.lines.setdefault((*path, index), item.start_mark.line + 1)
            _walk(item, (*path, index), doc, active)
        active.discard(id(node))
