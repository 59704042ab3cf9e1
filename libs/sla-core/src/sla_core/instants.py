"""Instants as integer microseconds since the Unix epoch: exact, cheap to compare and to store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US: Final = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact)."""
    return (moment - EPOCH) // _ONE_US


# Below 2**32 seconds a double's spacing is at most 2**-20 s, under a microsecond, so
# fromtimestamp's rounding to the microsecond gives back the exact instant (checked against
# the timedelta path over millions of instants in tests/unit/test_instants.py).
_FAST_LIMIT: Final = 4_000_000_000 * 1_000_000  # 2096-10-02
_fromtimestamp: Final = datetime.fromtimestamp


def from_us(us: int) -> datetime:
    """The aware UTC datetime of microseconds since the epoch (exact)."""
    if 0 <= us < _FAST_LIMIT:
        return _fromtimestamp(us / 1_000_000, UTC)  # twice as fast as the timedelta sum
    return EPOCH + timedelta(0, 0, us)
