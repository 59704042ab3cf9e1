"""A timer's own zone in the reports (SPEC 8): `due_local`, and the business seconds left of a
running timer counted in the hours of its zone."""

from __future__ import annotations

from datetime import UTC, datetime

from report_api.business_time import SecondsLeft
from report_api.queries.sql import timer_local_iso
from sla_core.policy import parse_policy

POLICY = """
calendars:
  customer-local:
    timezone: {from: customer_timezone, default: Europe/Oslo}
    hours: {mon-fri: ["08:00-18:00"]}
levels:
  standard: {calendar: customer-local, targets: {first_answer: 4h}}
default_level: standard
"""
DUE = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)  # Tuesday: 10:00 in Sao Paulo, 14:00 in Oslo


def test_due_local_is_the_due_in_the_timers_zone() -> None:
    assert timer_local_iso(DUE, "America/Sao_Paulo") == "2026-11-24T10:00:00-03:00"
    assert timer_local_iso(DUE, "Asia/Kathmandu") == "2026-11-24T18:45:00+05:45"
    assert timer_local_iso(None, "Europe/Oslo") is None  # paused: no due
    assert timer_local_iso(DUE, None) is None  # a row of an engine that did not say
    assert timer_local_iso(DUE, "Gone/Zone") is None


def test_seconds_left_count_the_hours_of_the_timers_zone() -> None:
    seconds_left = SecondsLeft(parse_policy(POLICY).calendars)
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # 07:00 in Sao Paulo, 11:00 in Oslo
    # Sao Paulo opens at 08:00: 2h to the due at 10:00 there; Oslo's hours count 3h to 14:00
    assert seconds_left("customer-local", now, DUE, "America/Sao_Paulo") == 7200
    assert seconds_left("customer-local", now, DUE, "Europe/Oslo") == 10800
    assert seconds_left("customer-local", now, DUE) == 10800  # NULL zone: the calendar's own
    assert seconds_left("customer-local", now, DUE, "Gone/Zone") == 10800
