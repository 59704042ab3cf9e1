"""Structured logs for both services: one JSON object per line on stderr.

Fields passed with `extra={...}` become top-level keys, so `log.info("batch", extra={"events":
12})` is searchable as `events`. Every line has `ts` (UTC, milliseconds), `level` (lower case),
`logger` and `msg`; a logged exception adds `exception`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

# Attributes every LogRecord has; anything else on a record came from `extra`.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Formats a record as a JSON object: ts, level, logger, msg, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(
    level: str = "INFO",
    *,
    quiet: Iterable[str] = ("aiokafka",),
    propagate: Iterable[str] = (),
) -> None:
    """Send the root logger's records to stderr as JSON lines at `level`.

    `quiet` loggers (chatty clients) log warnings and worse only; `propagate` loggers (a server's
    own, such as uvicorn's) lose their handlers and go through the root, so every line is JSON.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in quiet:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    for name in propagate:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
