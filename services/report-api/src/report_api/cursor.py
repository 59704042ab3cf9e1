"""Opaque keyset cursors of the SLA log: the last row's sort key and timer id, signed.

A cursor is `base64url(JSON payload) "." base64url(HMAC-SHA256(payload)[:16])`. The payload is
{"v": 1, "s": sort, "k": key value, "t": timer_id, "a": as_of}: the next page starts strictly
after (k, t) in the sort's order, so rows that arrive between pages never shift it. `as_of` fixes
the clock of the first page: running timers' SLA seconds, and their order under sort=sla, are
computed for that instant on every page. The signature makes cursors tamper-evident; the values
are bound as SQL parameters either way.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from report_api.problems import bad_param

VERSION = 1
MAX_CURSOR_LENGTH = 2048
_INFINITY = "infinity"
Key = str | float | datetime


@dataclass(frozen=True)
class Cursor:
    sort: str
    key: Key
    timer_id: str
    as_of: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key_to_json(key: Key) -> object:
    if isinstance(key, datetime):
        # asyncpg reads 'infinity' as a naive datetime.max
        if key.replace(tzinfo=None) == datetime.max:
            return {"ts": _INFINITY}
        return {"ts": key.astimezone(UTC).isoformat()}
    return key


def _key_from_json(raw: object, kind: str) -> Key:
    if kind == "time":
        if not isinstance(raw, dict) or not isinstance(raw.get("ts"), str):
            raise ValueError("time key expected")
        if raw["ts"] == _INFINITY:
            return datetime.max.replace(tzinfo=UTC)
        moment = datetime.fromisoformat(raw["ts"])
        if moment.tzinfo is None:
            raise ValueError("naive time key")
        return moment
    if kind == "number":
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValueError("number key expected")
        return float(raw)
    if not isinstance(raw, str):
        raise ValueError("text key expected")
    return raw


class CursorCodec:
    """Signs and checks cursors with one HMAC key."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()[:16])

    def encode(self, cursor: Cursor) -> str:
        body = {
            "v": VERSION,
            "s": cursor.sort,
            "k": _key_to_json(cursor.key),
            "t": cursor.timer_id,
            "a": cursor.as_of.astimezone(UTC).isoformat(),
        }
        payload = _b64(orjson.dumps(body))
        return f"{payload}.{self._sign(payload)}"

    def decode(self, text: str, *, sort: str, kind: str) -> Cursor:
        """The cursor, checked against the request's sort; a 400 naming `cursor` otherwise."""
        if len(text) > MAX_CURSOR_LENGTH or text.count(".") != 1:
            raise bad_param("cursor", "not a cursor returned by this API")
        payload, signature = text.split(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            raise bad_param("cursor", "not a cursor returned by this API")
        try:
            body = orjson.loads(_unb64(payload))
            if not isinstance(body, dict) or body.get("v") != VERSION:
                raise ValueError("version")
            timer_id, as_of = body["t"], datetime.fromisoformat(body["a"])
            if not isinstance(timer_id, str) or as_of.tzinfo is None:
                raise ValueError("fields")
            if body["s"] != sort:
                raise bad_param("cursor", f"the cursor was made for sort={body['s']}, not {sort}")
            key = _key_from_json(body["k"], kind)
        except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError):
            raise bad_param("cursor", "not a cursor returned by this API") from None
        return Cursor(sort=sort, key=key, timer_id=timer_id, as_of=as_of)


def secret_from(cursor_secret: str, tokens: tuple[str, ...]) -> bytes:
    """The HMAC key: SLA_CURSOR_SECRET, else derived from the API tokens (shared by replicas)."""
    material = cursor_secret or "\n".join(sorted(tokens))
    return hashlib.sha256(b"report-api cursor\n" + material.encode()).digest()
