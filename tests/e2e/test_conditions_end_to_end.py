"""Conditions end to end (SPEC section 8, issue #17): a tag that pauses, a team change that
resets, a spam flag that cancels, a periodic update missed after 24 business hours, an untouched
ticket that escalates at `older_than`, and each `close_before_answer` choice, from ticket events
on Kafka through `sla-engine run` to the reports of `report-api serve`, every figure worked by
hand below.

The week is Monday 16 to Friday 20 November 2026, in the past: Oslo is UTC+1 then, and the
office is open 09:00-17:00 Oslo (8 business hours a day). Every ticket event is on the topic,
in event-time order, before the engine starts, so the engine reads the week as it would have
lived it (the watermark follows the events, alarms and the escalation fire at their instants in
event time) and only then, caught up, follows the wall clock, which breaches what still runs.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sla_devtools.infra import Infra
from tests.e2e.conftest import TOKEN, Services, poll, wait_ready
from tests.support.kafka import TicketProducer, TopicReader

POLICY = """
calendars:
  office:
    timezone: Europe/Oslo
    hours: {mon-fri: ["09:00-17:00"]}
levels:
  standard:
    calendar: office
    targets: {first_answer: 8h, next_answer: 8h, periodic_update: 24h, resolution: 40h}
    pause_when: {field: tags, op: contains, value: waiting-for-vendor}
    reset_when: {field: team, op: changed}
    cancel_when: {field: custom_fields.spam, op: eq, value: true}
    periodic_update: {mode: between_agent_updates}
  urgent:
    targets: {first_answer: 1h, resolution: 8h}
  close-fulfil:
    calendar: office
    targets: {first_answer: 4h}
    close_before_answer: fulfil
  close-cancel:
    calendar: office
    targets: {first_answer: 4h}
    close_before_answer: cancel
  close-miss:
    calendar: office
    targets: {first_answer: 4h}
    close_before_answer: miss
default_level: standard
rules:
  - name: high priority untouched for 4 hours
    when: {all: [{field: priority, op: eq, value: high},
                 {field: changed_at, op: older_than, value: 4h}]}
    then: {set_level: urgent}
  - name: the desks that close before answering
    when: {field: department, op: in, value: [close-fulfil, close-cancel, close-miss]}
    then: {set_level: close-fulfil}
  - {name: cancel desk, when: {field: department, op: eq, value: close-cancel},
     then: {set_level: close-cancel}}
  - {name: miss desk, when: {field: department, op: eq, value: close-miss},
     then: {set_level: close-miss}}
"""
H = 3600
DAY = 8 * H  # an office day
TZ = "Europe/Oslo"


def oslo(text: str) -> datetime:
    """A local time of the week in Oslo (UTC+1 in November), as UTC."""
    return datetime.fromisoformat(f"2026-11-{text}+01:00").astimezone(UTC)


@pytest.mark.parametrize("services", [POLICY], indirect=True)
async def test_conditions_through_kafka_to_the_reports(
    infra: Infra, unique: str, services: Services
) -> None:
    env = services.env
    await services.create_topics()
    pause, reset, spam = f"pause-{unique}", f"reset-{unique}", f"spam-{unique}"
    periodic, escalate = f"periodic-{unique}", f"escalate-{unique}"
    fulfil, cancel, miss = f"fulfil-{unique}", f"cancel-{unique}", f"miss-{unique}"

    # (time, type, ticket, data); sent in time order
    week: list[tuple[datetime, str, str, dict[str, Any]]] = [
        # 1. A tag that pauses, on a customer reply: the answer comes after the unpaused due
        #    (Mon 17:00) and before the paused one.
        (oslo("16T09:00"), "ticket.created", pause, {"ticket": {"department": "pause"}}),
        (oslo("16T10:00"), "ticket.customer_replied", pause,
         {"ticket": {"tags": ["waiting-for-vendor"]}}),
        (oslo("16T12:00"), "ticket.updated", pause, {"ticket": {"tags": []}}),
        (oslo("17T10:30"), "ticket.answered", pause, {}),
        (oslo("17T11:00"), "ticket.closed", pause, {}),
        # 2. A team change that resets: the answer is late for the first cycle (due Mon 17:00),
        #    in time for the second.
        (oslo("16T09:00"), "ticket.created", reset,
         {"ticket": {"department": "reset", "team": "A"}}),
        (oslo("16T11:00"), "ticket.updated", reset, {"ticket": {"team": "B"}}),
        (oslo("17T10:00"), "ticket.answered", reset, {}),
        (oslo("17T10:30"), "ticket.closed", reset, {}),
        # 3. A spam flag that cancels; a reply while it holds starts nothing.
        (oslo("16T09:00"), "ticket.created", spam, {"ticket": {"department": "spam"}}),
        (oslo("16T09:05"), "ticket.updated", spam, {"ticket": {"custom_fields": {"spam": True}}}),
        (oslo("16T09:09"), "ticket.customer_replied", spam, {}),
        # 4. Periodic updates between agent answers: one in time, one missed after 24 business
        #    hours, one cancelled by the close.
        (oslo("16T09:00"), "ticket.created", periodic, {"ticket": {"department": "periodic"}}),
        (oslo("16T10:00"), "ticket.answered", periodic, {}),
        (oslo("17T10:00"), "ticket.answered", periodic, {}),
        (oslo("20T13:00"), "ticket.answered", periodic, {}),
        (oslo("20T14:00"), "ticket.closed", periodic, {}),
        # 5. A high-priority ticket nobody touches after its creation.
        (oslo("16T09:00"), "ticket.created", escalate,
         {"ticket": {"department": "escalate", "priority": "high"}}),
        # 6. Closed half an hour after creation, before any answer, under each choice.
        *[
            event
            for ticket, desk in ((fulfil, "close-fulfil"), (cancel, "close-cancel"),
                                 (miss, "close-miss"))
            for event in (
                (oslo("16T09:00"), "ticket.created", ticket, {"ticket": {"department": desk}}),
                (oslo("16T09:30"), "ticket.closed", ticket, {}),
            )
        ],
    ]  # fmt: skip
    async with TicketProducer(infra.bootstrap_servers, env["SLA_TICKET_TOPIC"]) as producer:
        for when, kind, ticket, data in sorted(week, key=lambda e: e[0]):
            await producer.send(kind, when, ticket, **data)
    services.start("report-api", "serve")
    services.start("sla-engine", "run")

    # Every timer: (level, state, due, closed, business seconds left at the stop, cancel reason),
    # times in Oslo. "Left" is target - elapsed; elapsed counts office hours, pauses left out.
    mon, tue = "2026-11-16T", "2026-11-17T"
    ended: dict[str, tuple[Any, ...]] = {
        # 1. Paused Mon 10:00-12:00. first_answer: 1h (09-10), then 5h (12-17), the last 2h on
        #    Tuesday: due Tue 11:00 (without the pause: Mon 17:00). Answered Tue 10:30:
        #    1 + 5 + 1.5 = 7.5h elapsed, fulfilled, 0.5h left.
        f"{pause}:first_answer:1": (
            "standard", "fulfilled", f"{tue}11:00", f"{tue}10:30", 8 * H - 27000, None),
        # resolution 40h, paused alike: due Mon 23 Nov 11:00 (6 + 8 * 4 + 2). The close at Tue
        # 11:00 resolves it: 1 + 5 + 2 = 8h elapsed.
        f"{pause}:resolution:1": (
            "standard", "fulfilled", "2026-11-23T11:00", f"{tue}11:00", 40 * H - 8 * H, None),
        # the answer starts the periodic update: 24h from Tue 10:30 is Fri 10:30 (6.5 + 8 + 8
        # + 1.5); the close at 11:00, 0.5h in, cancels it.
        f"{pause}:periodic_update:1": (
            "standard", "cancelled", "2026-11-20T10:30", f"{tue}11:00", 24 * H - 1800, "closed"),
        # 2. The team changes Mon 11:00, 2h in: both cycles end (reset), new ones start then.
        f"{reset}:first_answer:1": (
            "standard", "cancelled", f"{mon}17:00", f"{mon}11:00", 8 * H - 2 * H, "reset"),
        f"{reset}:resolution:1": (  # 40h from Mon 09:00: Fri 17:00
            "standard", "cancelled", "2026-11-20T17:00", f"{mon}11:00", 40 * H - 2 * H, "reset"),
        # first_answer:2 from Mon 11:00: 6h Monday, 2h Tuesday, due Tue 11:00; answered Tue
        # 10:00, 7h in
        f"{reset}:first_answer:2": (
            "standard", "fulfilled", f"{tue}11:00", f"{tue}10:00", 8 * H - 7 * H, None),
        # resolution:2 from Mon 11:00: due Mon 23 11:00; the close at Tue 10:30 is 7.5h in
        f"{reset}:resolution:2": (
            "standard", "fulfilled", "2026-11-23T11:00", f"{tue}10:30", 40 * H - 27000, None),
        # the answer at Tue 10:00 starts a periodic update (due Fri 10:00), cancelled by the
        # close 0.5h later
        f"{reset}:periodic_update:1": (
            "standard", "cancelled", "2026-11-20T10:00", f"{tue}10:30", 24 * H - 1800, "closed"),
        # 3. Flagged as spam at 09:05, 5 minutes in: both cancelled; the reply at 09:09 starts
        #    nothing.
        f"{spam}:first_answer:1": (
            "standard", "cancelled", f"{mon}17:00", f"{mon}09:05", 8 * H - 300,
            "cancel_condition"),
        f"{spam}:resolution:1": (
            "standard", "cancelled", "2026-11-20T17:00", f"{mon}09:05", 40 * H - 300,
            "cancel_condition"),
        # 4. Answered Mon 10:00, 1h in.
        f"{periodic}:first_answer:1": (
            "standard", "fulfilled", f"{mon}17:00", f"{mon}10:00", 8 * H - H, None),
        # cycle 1 from Mon 10:00 (7 + 8 + 8 + 1: due Thu 10:00); the answer Tue 10:00 is 8h in
        f"{periodic}:periodic_update:1": (
            "standard", "fulfilled", "2026-11-19T10:00", f"{tue}10:00", 24 * H - DAY, None),
        # cycle 2 from Tue 10:00: due Fri 10:00 (7 + 8 + 8 + 1), when it breaches; the answer
        # at Fri 13:00 is 27h in: missed, 3h over
        f"{periodic}:periodic_update:2": (
            "standard", "missed", "2026-11-20T10:00", "2026-11-20T13:00", 24 * H - 27 * H, None),
        # cycle 3 from Fri 13:00 (4 + 8 + 8 + 4: due Wed 25 13:00), cancelled by the close at
        # 14:00, 1h in
        f"{periodic}:periodic_update:3": (
            "standard", "cancelled", "2026-11-25T13:00", "2026-11-20T14:00", 24 * H - H,
            "closed"),
        # resolution: Mon 09:00 to the close Fri 14:00 is 4 * 8 + 5 = 37h of 40h (due Fri 17:00)
        f"{periodic}:resolution:1": (
            "standard", "fulfilled", "2026-11-20T17:00", "2026-11-20T14:00", 40 * H - 37 * H,
            None),
        # 6. Closed Mon 09:30, 0.5h into a 4h first_answer (due 13:00): the choice decides.
        f"{fulfil}:first_answer:1": (
            "close-fulfil", "fulfilled", f"{mon}13:00", f"{mon}09:30", 4 * H - 1800, None),
        f"{cancel}:first_answer:1": (
            "close-cancel", "cancelled", f"{mon}13:00", f"{mon}09:30", 4 * H - 1800, "closed"),
        f"{miss}:first_answer:1": (
            "close-miss", "missed", f"{mon}13:00", f"{mon}09:30", 4 * H - 1800, None),
    }  # fmt: skip
    # 5. Untouched: at Mon 13:00 (plus a microsecond) it is older than 4h and escalates to
    #    urgent, whose 24/7 targets count from the creation: first_answer due Mon 10:00 (already
    #    past: it breaches at once, at that due), resolution due Mon 17:00. Both still run.
    running = {
        f"{escalate}:first_answer:1": ("urgent", "breached", f"{mon}10:00", None),
        f"{escalate}:resolution:1": ("urgent", "breached", f"{mon}17:00", None),
    }

    def timers(body: dict[str, Any]) -> tuple[dict[str, tuple[Any, ...]], dict[str, Any]]:
        got_ended, got_running = {}, {}
        for r in body["rows"]:
            due, closed = (r[k] and r[k].removesuffix(":00+01:00") for k in ("due_date", "closed"))
            if r["closed"] is None:
                got_running[r["timer_id"]] = (r["level"], r["state"], due, r["cancel_reason"])
            else:
                got_ended[r["timer_id"]] = (
                    r["level"],
                    r["state"],
                    due,
                    closed,
                    r["sla_seconds"],
                    r["cancel_reason"],
                )
        return got_ended, got_running

    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(headers=headers, timeout=10) as client:
        await wait_ready(client, f"{services.api}/readyz", services)
        await wait_ready(client, f"{services.engine}/readyz", services)
        log_url = f"{services.api}/v1/reports/log"
        week_range = {"from": "2026-11-16", "to": "2026-11-21", "tz": TZ}
        await poll(
            client,
            log_url,
            {**week_range, "limit": "100"},
            lambda b: timers(b) == (ended, running),
        )

        # the state filter, with the reason of each cancel, in the CSV export too
        params = {**week_range, "state": "cancelled", "sort": "ticket", "format": "csv"}
        export = await client.get(log_url, params=params)
        assert export.status_code == 200, export.text
        reasons = {
            f"{r['ticket']}:{r['metric']}": r["cancel_reason"]
            for r in csv.DictReader(io.StringIO(export.text))
        }
        assert reasons == {
            timer.rsplit(":", 1)[0]: row[5] for timer, row in ended.items() if row[1] == "cancelled"
        }

        # periodic updates in the compliance report: cycle 1 in time (8h), cycle 2 missed
        # (27h); the three cancelled by closes are left out
        compliance_url = f"{services.api}/v1/reports/compliance"
        report = await poll(
            client,
            compliance_url,
            {**week_range, "group_by": "department", "metric": "periodic_update"},
            lambda b: len(b["rows"]) == 1,
        )
        (row,) = report["rows"]
        assert row["department"] == "periodic"
        assert (row["fulfilled"], row["fulfilled_avg_seconds"]) == (1, DAY)
        assert (row["missed"], row["missed_avg_seconds"]) == (1, 27 * H)
        assert row["compliance_ratio"] == 0.5
        # every level and metric: cancelled timers are left out, breached running ones missed
        every = (
            await client.get(compliance_url, params={**week_range, "group_by": "level,metric"})
        ).json()
        figures = {(r["level"], r["metric"]): (r["fulfilled"], r["missed"]) for r in every["rows"]}
        assert figures == {
            ("close-fulfil", "first_answer"): (1, 0),
            ("close-miss", "first_answer"): (0, 1),
            ("standard", "first_answer"): (3, 0),  # pause 7.5h, reset's second cycle 7h, 1h
            ("standard", "periodic_update"): (1, 1),
            ("standard", "resolution"): (3, 0),  # 8h, 7.5h, 37h
            ("urgent", "first_answer"): (0, 1),
            ("urgent", "resolution"): (0, 1),
        }
        standard_answer = next(
            r for r in every["rows"] if (r["level"], r["metric"]) == ("standard", "first_answer")
        )
        assert standard_answer["fulfilled_avg_seconds"] == (27000 + 7 * H + H) / 3

        # the ticket view: the reset's cycles in start order, each cancel with its reason
        view = (await client.get(f"{services.api}/v1/tickets/{reset}/sla")).json()
        assert [(t["timer_id"], t["state"], t["cancel_reason"]) for t in view["timers"]] == [
            (f"{reset}:first_answer:1", "cancelled", "reset"),
            (f"{reset}:resolution:1", "cancelled", "reset"),
            (f"{reset}:first_answer:2", "fulfilled", None),
            (f"{reset}:resolution:2", "fulfilled", None),
            (f"{reset}:periodic_update:1", "cancelled", "closed"),
        ]

    # On the topics: the escalation at its instant in event time, and exactly three breaches,
    # each at its due: the periodic update's (Fri 10:00) and the escalated ticket's two.
    flip = oslo("16T13:00") + timedelta(microseconds=1)
    async with TopicReader(infra.bootstrap_servers, env["SLA_EVENTS_TOPIC"]) as sla_events:
        seen = await sla_events.wait_for(
            lambda es: sum(e["type"] == "sla.retargeted" for e in es) == 2, within=30
        )
    retargets = [e for e in seen if e["type"] == "sla.retargeted"]
    assert {e["data"]["timer_id"] for e in retargets} == set(running)
    for event in retargets:
        assert datetime.fromisoformat(event["time"]) == flip
        assert (event["data"]["level"], event["data"]["reason"]) == ("urgent", "standard")
    async with TopicReader(infra.bootstrap_servers, env["SLA_BREACH_TOPIC"]) as breach_topic:
        breaches = await breach_topic.wait_for(lambda es: len(es) >= 3, within=30)
    assert sorted((e["data"]["timer_id"], datetime.fromisoformat(e["time"])) for e in breaches) == [
        (f"{escalate}:first_answer:1", oslo("16T10:00")),
        (f"{escalate}:resolution:1", oslo("16T17:00")),
        (f"{periodic}:periodic_update:2", oslo("20T10:00")),
    ]
