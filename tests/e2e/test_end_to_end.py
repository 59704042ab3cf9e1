"""The first path, end to end, with the real commands: a ticket event in Kafka becomes an SLA
timer in `sla-engine run`, then a breach on the breach topic, then a row in the reports of
`report-api serve`. Both services run as subprocesses, as an operator starts them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sla_devtools.infra import Infra
from tests.e2e.conftest import TOKEN, Services, poll, wait_ready
from tests.support.kafka import TicketProducer, TopicReader


async def test_ticket_event_to_breach_topic_to_report_rows(
    infra: Infra, unique: str, services: Services
) -> None:
    env = services.env
    await services.up()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(headers=headers, timeout=10) as client:
        await wait_ready(client, f"{services.engine}/readyz", services)
        await wait_ready(client, f"{services.api}/readyz", services)

        t0 = datetime.now(UTC)
        late, quick = f"late-{unique}", f"quick-{unique}"
        async with TicketProducer(infra.bootstrap_servers, env["SLA_TICKET_TOPIC"]) as producer:
            ticket = {"department": "support", "agent": "ana", "requester": "ole@example.com"}
            await producer.send("ticket.created", t0, late, ticket=ticket)
            await producer.send("ticket.created", t0, quick, ticket=ticket)
            await producer.send("ticket.answered", t0 + timedelta(seconds=1), quick)

            async with TopicReader(infra.bootstrap_servers, env["SLA_BREACH_TOPIC"]) as breaches:
                seen = await breaches.wait_for(
                    lambda es: any(e["type"] == "sla.breached" for e in es), within=30
                )
            breach = next(e for e in seen if e["type"] == "sla.breached")
            assert breach["subject"] == late
            assert breach["data"]["metric"] == "first_answer"
            due = datetime.fromisoformat(breach["data"]["due_at"].replace("Z", "+00:00"))
            assert due == t0 + timedelta(seconds=3)

            log_url = f"{services.api}/v1/reports/log"
            body = await poll(
                client,
                log_url,
                {"ticket": late, "metric": "first_answer"},
                lambda b: [r["state"] for r in b["rows"]] == ["breached"],
            )
            assert body["rows"][0]["department"] == "support"
            assert body["rows"][0]["sla_seconds"] < 0  # over its target, still running

            await producer.send("ticket.closed", datetime.now(UTC), late)

        day = t0.date().isoformat()
        next_day = (t0.date() + timedelta(days=1)).isoformat()
        rows = await poll(
            client,
            log_url,
            {"from": day, "to": next_day, "metric": "first_answer", "sort": "ticket"},
            lambda b: (
                sorted((r["ticket"], r["state"]) for r in b["rows"])
                == sorted([(late, "missed"), (quick, "fulfilled")])
            ),
        )
        assert len(rows["rows"]) == 2

        compliance = await poll(
            client,
            f"{services.api}/v1/reports/compliance",
            {"from": day, "to": next_day, "group_by": "metric", "metric": "first_answer"},
            lambda b: b["rows"] and b["rows"][0]["missed"] == 1 and b["rows"][0]["fulfilled"] == 1,
        )
        assert compliance["rows"][0]["compliance_ratio"] == 0.5

        csv = await client.get(log_url, params={"ticket": late, "format": "csv"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert late in csv.text and "missed" in csv.text

        engine_metrics = (await client.get(f"{services.engine}/metrics")).text
        assert any(
            line.startswith("sla_engine_breaches_total{") and 'department="support"' in line
            for line in engine_metrics.splitlines()
        ), engine_metrics


# Calendar overrides and the customer's zone (SPEC section 8), as README's "How it decides" shows
# them. The dates are in the past, so the engine replays them as history: a caught-up partition's
# watermark is the wall clock, and a timer still running breaches at once, at its due.
ZONES_POLICY = """
calendars:
  office:
    timezone: Europe/Oslo
    hours: {mon-fri: ["09:00-17:00"]}
    overrides:
      "2026-11-25": ["09:00-12:00"]   # a half day (a Wednesday)
      "2026-11-28": ["10:00-14:00"]   # an extra Saturday
  customer-local:
    timezone: {from: customer_timezone, default: Europe/Oslo}
    hours: {mon-fri: ["08:00-18:00"]}
levels:
  office:
    calendar: office
    targets: {first_answer: 4h}
  international:
    calendar: customer-local
    targets: {first_answer: 4h}
default_level: office
rules:
  - name: International desk, in the customer's own hours
    when: {field: department, op: eq, value: international}
    then: {set_level: international}
"""


def csv_cells(line: str) -> list[str]:
    return line.split(",")  # no cell of these rows holds a comma or a quote


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize("services", [ZONES_POLICY], indirect=True)
async def test_overrides_and_the_customers_zone_through_kafka_to_the_reports(
    infra: Infra, unique: str, services: Services
) -> None:
    """Four dues worked by hand, each of which another reading of the calendar would move, from
    ticket events on Kafka through the engine to the SLA log (JSON and CSV) and the ticket view.
    In November Oslo is UTC+1, Sao Paulo UTC-3 (no DST since 2019), Kathmandu UTC+5:45."""
    env = services.env
    await services.up()
    half, saturday = f"half-day-{unique}", f"saturday-{unique}"
    sao_paulo, kathmandu = f"sao-paulo-{unique}", f"kathmandu-{unique}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(headers=headers, timeout=10) as client:
        await wait_ready(client, f"{services.engine}/readyz", services)
        await wait_ready(client, f"{services.api}/readyz", services)
        async with TicketProducer(infra.bootstrap_servers, env["SLA_TICKET_TOPIC"]) as producer:
            # 1. A half day. Created Wednesday 25 Nov at 11:00 Oslo; the day is 09:00-12:00, so
            #    1h counts that day and 3h on Thursday from 09:00: due Thu 26 Nov 12:00 Oslo
            #    (11:00Z). Under the week's hours it would be due Wed 15:00: the answer at Thu
            #    11:30 Oslo is in time only because of the override.
            await producer.send("ticket.created", utc("2026-11-25T11:00+01:00"), half, ticket={})
            await producer.send("ticket.answered", utc("2026-11-26T11:30+01:00"), half)
            # 2. An extra Saturday. Created Friday 27 Nov at 15:00 Oslo: 2h to the 17:00 close,
            #    2h on Saturday from 10:00: due Sat 28 Nov 12:00 Oslo (11:00Z), not Monday 11:00.
            #    Never answered: it breaches at its due, and the close makes it missed.
            await producer.send("ticket.created", utc("2026-11-27T15:00+01:00"), saturday)
            # 3. A customer in Sao Paulo, against the default Oslo. Created Monday 23 Nov at
            #    16:00 in Sao Paulo (19:00Z, 20:00 Oslo): 2h to the 18:00 close there, 2h on
            #    Tuesday from 08:00: due Tue 24 Nov 10:00-03:00 (13:00Z). In Oslo's hours it
            #    would be due Tue 12:00 Oslo (11:00Z): the answer at 12:00Z is in time in Sao
            #    Paulo's hours only.
            international = {"department": "international"}
            await producer.send(
                "ticket.created",
                utc("2026-11-23T16:00-03:00"),
                sao_paulo,
                ticket={**international, "customer_timezone": "America/Sao_Paulo"},
            )
            await producer.send("ticket.answered", utc("2026-11-24T12:00Z"), sao_paulo)
            # 4. A customer in Kathmandu whose zone name is misspelt: it falls back to Oslo,
            #    is counted, and is not dead-lettered. Created Monday 23 Nov at 05:00Z (10:45 in
            #    Kathmandu, 06:00 Oslo): Oslo opens at 08:00, due 12:00 Oslo (11:00Z). In
            #    Kathmandu's hours it would be due 14:45 there (09:00Z): the answer at 10:00Z is
            #    in time under the fallback only.
            await producer.send(
                "ticket.created",
                utc("2026-11-23T05:00Z"),
                kathmandu,
                ticket={**international, "customer_timezone": "Asia/Kathmandoo"},
            )
            await producer.send("ticket.answered", utc("2026-11-23T10:00Z"), kathmandu)

            async with TopicReader(infra.bootstrap_servers, env["SLA_BREACH_TOPIC"]) as breaches:
                seen = await breaches.wait_for(
                    lambda es: any(e["subject"] == saturday for e in es), within=30
                )
            breach = next(e for e in seen if e["subject"] == saturday)
            assert breach["type"] == "sla.breached"
            assert breach["time"] == breach["data"]["due_at"] == "2026-11-28T11:00:00Z"
            assert (breach["data"]["timezone"], breach["data"]["timezone_source"]) == (
                "Europe/Oslo",
                "calendar",
            )
            await producer.send("ticket.closed", utc("2026-11-30T09:00+01:00"), saturday)

        expected = {
            # ticket: (state, due in Oslo (the report's tz), zone, source, due in its zone)
            half: ("fulfilled", "2026-11-26T12:00:00+01:00", "Europe/Oslo", "calendar", None),
            saturday: ("missed", "2026-11-28T12:00:00+01:00", "Europe/Oslo", "calendar", None),
            sao_paulo: (
                "fulfilled",
                "2026-11-24T14:00:00+01:00",
                "America/Sao_Paulo",
                "ticket",
                "2026-11-24T10:00:00-03:00",
            ),
            kathmandu: ("fulfilled", "2026-11-23T12:00:00+01:00", "Europe/Oslo", "default", None),
        }

        def rows_of(body: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
            return {
                r["ticket"]: (
                    r["state"],
                    r["due_date"],
                    r["timezone"],
                    r["timezone_source"],
                    None if r["timezone"] == "Europe/Oslo" else r["due_local"],
                )
                for r in body["rows"]
            }

        log_url = f"{services.api}/v1/reports/log"
        params = {"from": "2026-11-23", "to": "2026-11-28", "tz": "Europe/Oslo", "limit": "10"}
        body = await poll(client, log_url, params, lambda b: rows_of(b) == expected)
        # a zone of Oslo's own: due_local is the due as the report shows it in tz=Europe/Oslo
        oslo_rows = [r for r in body["rows"] if r["timezone"] == "Europe/Oslo"]
        assert all(r["due_local"] == r["due_date"] for r in oslo_rows)

        csv = await client.get(log_url, params={**params, "format": "csv", "sort": "ticket"})
        assert csv.status_code == 200, csv.text
        header, *lines = csv.text.splitlines()
        names = header.split(",")
        cells = {row[1]: dict(zip(names, row, strict=True)) for row in map(csv_cells, lines)}
        assert cells[sao_paulo]["due_local"] == "2026-11-24T10:00:00-03:00"
        assert cells[sao_paulo]["timezone_source"] == "ticket"
        assert cells[kathmandu]["due_local"] == "2026-11-23T12:00:00+01:00"
        assert cells[kathmandu]["timezone_source"] == "default"

        ticket = (await client.get(f"{services.api}/v1/tickets/{sao_paulo}/sla")).json()
        (timer,) = ticket["timers"]
        assert (timer["timezone"], timer["due_local"]) == (
            "America/Sao_Paulo",
            "2026-11-24T10:00:00-03:00",
        )
        assert timer["due_at"] == "2026-11-24T13:00:00+00:00"  # the default tz is UTC

        engine_metrics = (await client.get(f"{services.engine}/metrics")).text
        fallbacks = 'sla_engine_timezone_fallbacks_total{calendar="customer-local"} 1.0'
        assert fallbacks in engine_metrics
        assert 'sla_engine_dead_letters_total{reason="' not in engine_metrics
