"""Durations as the policy writes them: parse, read policy values, format back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sla_core.durations import duration_seconds, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("2m", 120.0),
        ("4h", 14_400.0),
        ("1h30m", 5_400.0),
        ("1h0m15s", 3_615.0),
        ("2m30s", 150.0),
        ("1h5s", 3_605.0),
        ("90m", 5_400.0),
        ("1.5h", 5_400.0),
        ("0.5s", 0.5),
        ("0s", 0.0),
        ("100h", 360_000.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "4 hours",
        "",
        "h",
        "30",
        "1d",
        "2w",
        "1m1h",
        "30s2m",
        "1h 30m",
        " 4h",
        "4h ",
        "4H",
        "-5m",
        "1.h",
        ".5h",
        "1h1h",
        "4hours",
        "PT4H",
    ],
)
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration"):
        parse_duration(text)


def test_parse_duration_message_quotes_the_text() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("4 hours")
    assert str(info.value) == "'4 hours' is not a duration"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("2m", 120.0), (90, 90.0), (1.5, 1.5), (0, 0.0), ("1h30m", 5_400.0)],
)
def test_duration_seconds_reads_strings_and_numbers(value: object, seconds: float) -> None:
    assert duration_seconds(value) == seconds


@pytest.mark.parametrize("value", [True, False, None, float("inf"), float("nan"), [1], "4 hours"])
def test_duration_seconds_refuses(value: object) -> None:
    with pytest.raises(ValueError, match=r"is not a duration"):
        duration_seconds(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (30, "30s"),
        (120, "2m"),
        (3_600, "1h"),
        (5_400, "1h30m"),
        (3_615, "1h15s"),
        (90_061, "25h1m1s"),
        (0.5, "0.5s"),
        (1.25, "1.25s"),
        (59.9999, "1m"),
        (-90, "-1m30s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@given(st.integers(min_value=0, max_value=10**8))
def test_format_then_parse_round_trips_whole_seconds(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.integers(min_value=0, max_value=10**9))
def test_format_then_parse_round_trips_milliseconds(millis: int) -> None:
    assert parse_duration(format_duration(millis / 1000)) == pytest.approx(millis / 1000, abs=1e-9)
