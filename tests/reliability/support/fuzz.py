"""A seeded corpus of malformed ticket records, each with the dead-letter reasons it may earn.

Categories: random bytes, truncated JSON, wrong types (envelope, data and ticket attributes),
missing attributes, huge payloads, invalid UTF-8 (in the value and in binary-mode headers), times
that do not parse or are out of range, times far in the future, a wrong specversion, binary-mode
records without their attributes, and empty values.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from sla_core.codec import MAX_EVENT_BYTES, REQUIRED
from sla_core.events import TEXT_ATTRIBUTES

WRONG_VALUES: tuple[Any, ...] = (5, 1.5, True, [], ["x"], {}, {"a": 1})
BAD_TIMES = (
    "yesterday",
    "",
    "2026-13-01T00:00:00Z",
    "2026-02-30T10:00:00Z",
    "2026-11-23T25:00:00Z",
    "2026-11-23T10:00:00",  # no offset
    "10000-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-23:59",  # after year 9999 in UTC
    "2026-11-23T10:00:00+25:00",
    "1" * 100,
)


@dataclass(frozen=True)
class BadRecord:
    key: bytes
    value: bytes | None
    headers: list[tuple[str, bytes]]
    category: str
    reasons: frozenset[str]  # the dead-letter reasons that are right for it


def _valid(rng: random.Random, i: int, at: datetime) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"bad-{i}",
        "source": "fuzz",
        "type": rng.choice(["ticket.created", "ticket.answered", "ticket.updated"]),
        "time": at.isoformat(),
        "subject": f"fuzz-ticket-{i}",
        "datacontenttype": "application/json",
        "data": {"ticket": {"department": "support", "status": "open", "tags": ["a"]}},
    }


def corpus(seed: int, size: int, prefix: str) -> list[BadRecord]:
    """`size` malformed records (at least one of each category), keyed `<prefix>-<n>`."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    out: list[BadRecord] = []

    def add(
        category: str,
        value: bytes | None,
        reasons: set[str],
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        key = f"{prefix}-{len(out)}".encode()
        out.append(BadRecord(key, value, headers or [], category, frozenset(reasons)))

    makers = [
        "random_bytes",
        "truncated",
        "wrong_type",
        "missing",
        "invalid_utf8",
        "bad_time",
        "future_time",
        "specversion",
        "binary_mode",
        "empty",
    ]
    huge = max(3, size // 250)
    for _ in range(huge):
        event = _valid(rng, len(out), now)
        event["data"]["ticket"]["custom_fields"] = {
            "blob": "x" * rng.randint(MAX_EVENT_BYTES, 3 * MAX_EVENT_BYTES)
        }
        add("huge", orjson.dumps(event), {"too_large"})
    while len(out) < size:
        i = len(out)
        event = _valid(rng, i, now)
        kind = makers[i % len(makers)]
        if kind == "random_bytes":
            add(
                kind,
                rng.randbytes(rng.randint(1, 300)),
                {"not_json", "bad_encoding", "wrong_type", "missing_attribute"},
            )
        elif kind == "truncated":
            raw = orjson.dumps(event)
            add(kind, raw[: rng.randint(1, len(raw) - 1)], {"not_json"})
        elif kind == "wrong_type":
            target = rng.choice(["envelope", "data", "ticket", "whole"])
            if target == "envelope":
                name = rng.choice(["id", "source", "type", "subject", "time"])
                event[name] = rng.choice([*WRONG_VALUES, None, ""])
                if name == "time" and event[name] == "":
                    event[name] = 7
            elif target == "data":
                name = rng.choice(["data", "ticket", "tags", "custom_fields", "channel", "auto"])
                if name == "data":
                    event["data"] = rng.choice([5, "x", [], None])
                elif name == "ticket":
                    event["data"]["ticket"] = rng.choice([5, "x", ["a"]])
                elif name == "tags":
                    event["data"]["ticket"]["tags"] = rng.choice(["a", [1], [None], {"a": 1}])
                elif name == "custom_fields":
                    event["data"]["ticket"]["custom_fields"] = rng.choice(["a", [1], 5])
                elif name == "channel":
                    event["data"]["channel"] = rng.choice([5, [], {}])
                else:
                    event["data"]["automated"] = rng.choice(["yes", 1, None, []])
            elif target == "ticket":
                attribute = rng.choice([*TEXT_ATTRIBUTES, "created_from_invitation"])
                wrong = rng.choice(WRONG_VALUES)
                if attribute == "created_from_invitation" and wrong is True:
                    wrong = "yes"
                event["data"]["ticket"][attribute] = wrong
            else:
                add(kind, orjson.dumps(rng.choice([[event], 5, "event", None])), {"wrong_type"})
                continue
            add(kind, orjson.dumps(event), {"wrong_type"})
        elif kind == "missing":
            for name in rng.sample(REQUIRED, rng.randint(1, 3)):
                del event[name]
            add(kind, orjson.dumps(event), {"missing_attribute"})
        elif kind == "invalid_utf8":
            raw = orjson.dumps(event)
            cut = raw.index(b"fuzz-ticket")
            add(
                kind,
                raw[:cut] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"]) + raw[cut:],
                {"bad_encoding"},
            )
        elif kind == "bad_time":
            event["time"] = rng.choice(BAD_TIMES)
            add(kind, orjson.dumps(event), {"bad_time"})
        elif kind == "future_time":
            event["time"] = (now + timedelta(days=rng.randint(30, 300_000))).isoformat()
            add(kind, orjson.dumps(event), {"future_time"})
        elif kind == "specversion":
            event["specversion"] = rng.choice(["0.3", "2.0", 1.0, None, ""])
            add(kind, orjson.dumps(event), {"bad_specversion"})
        elif kind == "binary_mode":
            headers = [
                ("ce_specversion", b"1.0"),
                ("ce_id", f"bin-{i}".encode()),
                ("ce_source", b"fuzz"),
                ("ce_type", b"ticket.created"),
                ("ce_time", now.isoformat().encode()),
                ("ce_subject", f"fuzz-ticket-{i}".encode()),
            ]
            roll = rng.random()
            if roll < 0.4:
                del headers[rng.randint(1, len(headers) - 1)]
                add(kind, b'{"ticket": {}}', {"missing_attribute"}, headers)
            elif roll < 0.7:
                add(kind, b"{not json", {"not_json"}, headers)
            else:
                j = rng.randint(1, len(headers) - 1)
                headers[j] = (headers[j][0], b"\xff\xfe")
                add(kind, b'{"ticket": {}}', {"bad_encoding"}, headers)
        else:
            add(kind, rng.choice([None, b""]), {"not_json"})
    rng.shuffle(out)
    return out


def categories(records: list[BadRecord]) -> Counter[str]:
    return Counter(r.category for r in records)
