"""What-if end to end (SPEC section 9), worked by hand: ticket events on Kafka, `sla-engine run`
and `report-api serve` (which archives them), then a what-if with a candidate that lengthens the
standard level's first answer from 1h to 2h, and the self-check (the live policy gives zero
differences). 24/7 calendars; Monday 16 Nov 2026, in the past, replayed as history.

Tickets, all created at T0 = 08:00Z unless said (first answer live 1h -> candidate 2h):

| ticket | level    | first answer     | live      | candidate |
|--------|----------|------------------|-----------|-----------|
| a      | standard | T0+50m           | fulfilled | fulfilled |
| b      | standard | T0+90m           | missed    | fulfilled |  changes
| c      | standard | never            | breached  | breached  |
| d      | gold     | T0+45m (30m)     | missed    | missed    |
| e      | standard | T0+150m          | missed    | missed    |
| f      | standard | created T0+1h, answered T0+150m | missed | fulfilled | changes
| z      | standard | the day before, answered after 90m | missed | fulfilled | out of range

Each standard ticket also has a resolution timer (8h), never closed: breached on both sides.
So by level, live: standard 1 fulfilled, 9 missed (4 first answers, 5 resolutions); gold 0 and
1. Candidate: standard 3 and 7; gold 0 and 1.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from sla_devtools.infra import Infra
from tests.e2e.conftest import ADMIN_TOKEN, TOKEN, Services, poll, wait_ready
from tests.support.kafka import TicketProducer

LIVE_POLICY = """
levels:
  standard:
    targets: {first_answer: 1h, resolution: 8h}
  gold:
    targets: {first_answer: 30m}
default_level: standard
rules:
  - name: VIP
    when: {field: customer_group, op: eq, value: VIP}
    then: {set_level: gold}
"""
CANDIDATE = LIVE_POLICY.replace("first_answer: 1h,", "first_answer: 2h,")
T0 = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
M = timedelta(minutes=1)
RANGE = {"from": "2026-11-16", "to": "2026-11-17", "tz": "UTC"}


async def what_if(client: httpx.AsyncClient, api: str, policy: str) -> dict[str, Any]:
    """Start a what-if of RANGE by level and wait for its result."""
    started = await client.post(
        f"{api}/v1/what-if", json={"policy": policy, **RANGE, "group_by": "level"}
    )
    assert started.status_code == 202, started.text
    assert started.headers["location"] == started.json()["href"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = (await client.get(f"{api}{started.json()['href']}")).json()
        if job["status"] in ("done", "failed"):
            assert job["status"] == "done", job
            return dict(job)
        await asyncio.sleep(0.2)
    raise AssertionError(f"the what-if never finished: {job}")


async def archived(database_url: str, topic: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM sla_archive.ticket_events WHERE topic = $1", topic
        )
        return count
    finally:
        await conn.close()


@pytest.mark.parametrize("services", [LIVE_POLICY], indirect=True)
async def test_what_if_lists_exactly_the_tickets_that_change_and_the_self_check_passes(
    infra: Infra, unique: str, services: Services, tmp_path: Path
) -> None:
    env = services.env
    await services.up()
    t = {name: f"{name}-{unique}" for name in "abcdefz"}
    sent = 0
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as c:
        await wait_ready(c, f"{services.engine}/readyz", services)
        await wait_ready(c, f"{services.api}/readyz", services)
        async with TicketProducer(infra.bootstrap_servers, env["SLA_TICKET_TOPIC"]) as producer:
            for name, created, answered in (
                ("z", T0 - timedelta(days=1), T0 - timedelta(days=1) + 90 * M),
                ("a", T0, T0 + 50 * M),
                ("b", T0, T0 + 90 * M),
                ("c", T0, None),
                ("d", T0, T0 + 45 * M),
                ("e", T0, T0 + 150 * M),
                ("f", T0 + 60 * M, T0 + 150 * M),
            ):
                group = {"customer_group": "VIP"} if name == "d" else {}
                await producer.send("ticket.created", created, t[name], ticket=group)
                sent += 1
                if answered is not None:
                    await producer.send("ticket.answered", answered, t[name])
                    sent += 1

        compliance_url = f"{services.api}/v1/reports/compliance"
        live = await poll(
            c,
            compliance_url,
            {**RANGE, "group_by": "level"},
            lambda b: (
                [(r["level"], r["fulfilled"], r["missed"]) for r in b["rows"]]
                == [("gold", 0, 1), ("standard", 1, 9)]
            ),
        )
        assert live["totals"]["compliance_ratio"] == round(1 / 11, 4)
    deadline = time.monotonic() + 30
    while await archived(infra.database_url, env["SLA_TICKET_TOPIC"]) < sent:
        assert time.monotonic() < deadline, "the archive never caught up"
        await asyncio.sleep(0.2)

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(headers=admin, timeout=10) as c:
        job = await what_if(c, services.api, CANDIDATE)
        result = job["result"]
        assert job["progress"]["fraction"] == 1.0
        # the tickets with an event in range, with their whole history: z is not one of them
        assert job["progress"]["events_total"] == job["progress"]["events_done"] == sent - 2
        by_level = {r["level"]: r for r in result["rows"]}
        assert by_level["standard"]["live"] == {
            "fulfilled": 1,
            "missed": 9,
            "compliance_ratio": 0.1,
        }
        assert by_level["standard"]["candidate"] == {
            "fulfilled": 3,
            "missed": 7,
            "compliance_ratio": 0.3,
        }
        assert by_level["standard"]["difference"] == {
            "fulfilled": 2,
            "missed": -2,
            "compliance_ratio": 0.2,
        }
        assert by_level["gold"]["difference"] == {
            "fulfilled": 0,
            "missed": 0,
            "compliance_ratio": 0.0,
        }
        assert result["totals"]["difference"]["fulfilled"] == 2
        assert result["changed_tickets"] == 2

        tickets_url = f"{services.api}/v1/what-if/{job['id']}/tickets"
        page = (await c.get(tickets_url, params={"limit": 1})).json()
        rest = (await c.get(tickets_url, params={"cursor": page["next_cursor"]})).json()
        assert rest["next_cursor"] is None
        changed = [
            (
                i["ticket_id"],
                i["metric"],
                i["level"],
                i["live"],
                i["live_due_at"],
                i["candidate"],
                i["candidate_due_at"],
            )
            for i in page["items"] + rest["items"]
        ]
        assert changed == [
            (
                t["b"],
                "first_answer",
                "standard",
                "missed",
                (T0 + 60 * M).isoformat(),
                "fulfilled",
                (T0 + 120 * M).isoformat(),
            ),
            (
                t["f"],
                "first_answer",
                "standard",
                "missed",
                (T0 + 120 * M).isoformat(),
                "fulfilled",
                (T0 + 180 * M).isoformat(),
            ),
        ]
        csv = await c.get(tickets_url, params={"format": "csv"})
        assert csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.splitlines()
        assert lines[0].startswith("ticket_id,timer_id,metric")
        assert [line.split(",")[0] for line in lines[1:]] == [t["b"], t["f"]]

        # The self-check: the live policy, as the engine recorded it, changes nothing.
        # newest first (the registry is shared by the e2e tests of one database)
        version = (await c.get(f"{services.api}/v1/policies")).json()[0]
        recorded = (await c.get(f"{services.api}/v1/policies/{version['version']}")).text
        assert recorded == LIVE_POLICY
        check = await what_if(c, services.api, recorded)
        assert check["result"]["changed_tickets"] == 0
        assert check["policy_version"] == version["version"]
        zero = {"fulfilled": 0, "missed": 0, "compliance_ratio": 0.0}
        assert [r["difference"] for r in check["result"]["rows"]] == [zero, zero]
        assert check["result"]["totals"]["difference"] == zero

        # The live projection is as it was.
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as reader:
            after = (await reader.get(compliance_url, params={**RANGE, "group_by": "level"})).json()
        assert after["rows"] == live["rows"]

    # The same from the command line: `sla what-if` and the self-check `sla verify`.
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(CANDIDATE)
    cli = [str(Path(sys.executable).parent / "sla")]
    where = ["--from", RANGE["from"], "--to", RANGE["to"], "--api", services.api]
    where += ["--token", ADMIN_TOKEN]
    shown = await asyncio.to_thread(
        subprocess.run,
        [*cli, "what-if", str(candidate), *where, "--group-by", "level"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr
    assert "100%" in shown.stderr  # the progress bar, finished
    lines = shown.stdout.splitlines()
    standard = next(line for line in lines if line.startswith("standard"))
    assert standard.split()[1:] == ["1/9/0.1000", "3/7/0.3000", "+2/-2/+0.2000"]
    assert "2 timers change verdict" in shown.stdout
    listed = [line.split()[0] for line in lines if line.startswith(tuple(t.values()))]
    assert listed == [t["b"], t["f"]]
    verify = await asyncio.to_thread(
        subprocess.run, [*cli, "verify", *where], env=env, capture_output=True, text=True
    )
    assert verify.returncode == 0, (verify.stdout, verify.stderr)
    assert verify.stdout.splitlines()[-1] == "0 differences"
    bad = tmp_path / "bad.yaml"
    bad.write_text(CANDIDATE.replace("2h,", "'2 hours',"))
    refused = await asyncio.to_thread(
        subprocess.run, [*cli, "what-if", str(bad), *where], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 2
    assert f"{bad}.levels.standard.targets.first_answer: line 4:" in refused.stderr
