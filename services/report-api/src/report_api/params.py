"""Parsing and checking of the report parameters that FastAPI's types cannot express.

Each function raises a 400 ProblemError that names the parameter.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from report_api.buckets import local_midnight
from report_api.problems import bad_param

MAX_RANGE_DAYS = 3660
MAX_FILTER_VALUES = 100
MAX_TEXT_LENGTH = 200
# Text parameters: PostgreSQL text cannot hold NUL, so a value with one is refused up front.
TEXT_PATTERN = r"^[^\x00]*$"
# Instants outside these bounds are refused: bucket arithmetic near datetime's limits overflows.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A '+' in a query string decodes to a space; accept "10:00:00 02:00" as "+02:00".
_SPACE_OFFSET = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def parse_zone(value: str) -> ZoneInfo:
    """An IANA zone name; only names in the zone database (no paths, no POSIX TZ strings)."""
    if value not in _zone_names():
        raise bad_param("tz", f"unknown IANA time zone {value!r}")
    return ZoneInfo(value)


def parse_instant(value: str, zone: ZoneInfo, name: str) -> datetime:
    """A date (its local midnight in `zone`), a local datetime, or a datetime with an offset."""
    text = _SPACE_OFFSET.sub(r"\1+\2", value.strip())
    try:
        if _DATE.fullmatch(text):
            moment = local_midnight(date.fromisoformat(text), zone)
        elif "T" not in text and " " not in text:
            raise ValueError("no time part")
        else:
            moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise bad_param(
            name, "expected a date (2026-10-25) or an RFC 3339 date-time (2026-10-25T08:00:00Z)"
        ) from None
    if not EARLIEST <= moment <= LATEST:
        raise bad_param(name, f"must lie between {EARLIEST.date()} and {LATEST.date()}")
    return moment


def parse_range(
    start_text: str | None, end_text: str | None, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """[from, to) as UTC instants; when both are given, from < to within MAX_RANGE_DAYS."""
    start = None if start_text is None else parse_instant(start_text, zone, "from")
    end = None if end_text is None else parse_instant(end_text, zone, "to")
    if start is not None and end is not None:
        if start >= end:
            raise bad_param("to", "must be after from")
        if end - start > timedelta(days=MAX_RANGE_DAYS):
            raise bad_param("to", f"the range may span at most {MAX_RANGE_DAYS} days")
    return start, end


def parse_list(value: str | None, name: str, allowed: tuple[str, ...], default: str) -> list[str]:
    """A comma list of `allowed` names, in order, without repeats."""
    items = [v.strip() for v in (default if value is None else value).split(",")]
    if not all(items):
        raise bad_param(name, f"a comma list of {', '.join(allowed)}")
    unknown = [v for v in items if v not in allowed]
    if unknown:
        raise bad_param(name, f"unknown {unknown[0]!r}; allowed: {', '.join(allowed)}")
    return list(dict.fromkeys(items))
