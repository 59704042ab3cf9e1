"""Instants as epoch microseconds: both conversions are exact, on the fast path and off it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sla_core.instants import EPOCH, from_us, to_us

FAST_LIMIT = 4_000_000_000 * 1_000_000


def exact(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def test_from_us_is_exact_over_a_million_instants_and_at_the_edges() -> None:
    rng = random.Random(20261123)
    samples = [rng.randrange(0, FAST_LIMIT) for _ in range(1_000_000)]
    edges = [*range(0, 20_000), *range(FAST_LIMIT - 20_000, FAST_LIMIT + 20_000)]
    wrong = [us for us in samples + edges if from_us(us) != exact(us)]
    assert wrong == []


@given(st.datetimes(timezones=st.just(UTC)))
def test_round_trip(moment: datetime) -> None:
    us = to_us(moment)
    back = from_us(us)
    assert back == moment and back.tzinfo is UTC
    assert back.utcoffset() == timedelta(0)


def test_before_the_epoch_and_far_ahead() -> None:
    for us in (-1, -86_400_000_000, FAST_LIMIT, 250_000_000_000_000_000):
        assert from_us(us) == exact(us)
