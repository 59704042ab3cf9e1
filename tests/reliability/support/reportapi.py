"""`report-api serve` as a process of the test's, and its SLA log report read back as verdicts."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from report_api.testing import create_database
from sla_devtools.infra import free_port
from tests.reliability.support.procs import VENV_BIN, ServiceProcess

TOKEN = "reliability-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TimerKey = tuple[str, str, datetime]  # ticket, metric, started


async def report_api(
    admin_url: str, bootstrap: str, topic: str, log: Path, **extra: object
) -> ServiceProcess:
    """A fresh database, migrated, and `report-api serve` projecting `topic` into it."""
    name = f"rel_{uuid.uuid4().hex[:10]}"
    url = await create_database(admin_url, name)
    port = free_port()
    env = {
        "SLA_DATABASE_URL": url,
        "SLA_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "SLA_EVENTS_TOPIC": topic,
        "SLA_API_TOKENS": TOKEN,
        "SLA_API_PORT": str(port),
        "SLA_API_HOST": "127.0.0.1",
        "SLA_PROJECTION_GROUP_ID": f"projection-{name}",
        # the ticket topic is not these tests' subject; a test that wants the archive says so
        "SLA_ARCHIVE_ENABLED": "false",
        "SLA_KAFKA_SESSION_TIMEOUT_MS": "3000",
        "SLA_LOG_LEVEL": "INFO",
    }
    env.update({f"SLA_{k.upper()}": str(v) for k, v in extra.items()})
    return ServiceProcess([str(VENV_BIN / "report-api"), "serve"], env, log, port)


async def log_rows(api: ServiceProcess) -> list[dict[str, str]]:
    """Every row of the SLA log report, from its CSV export."""
    async with httpx.AsyncClient(timeout=30, headers=AUTH) as client:
        response = await client.get(api.url + "/v1/reports/log", params={"format": "csv"})
    response.raise_for_status()
    return list(csv.DictReader(io.StringIO(response.text)))


def report_verdicts(rows: list[dict[str, str]]) -> dict[TimerKey, str]:
    """The state of every timer in the report; a timer listed twice fails here."""
    out: dict[TimerKey, str] = {}
    for row in rows:
        key = (row["ticket"], row["metric"], datetime.fromisoformat(row["sla_started"]))
        assert key not in out, f"timer listed twice in the report: {key}"
        out[key] = row["state"]
    return out


def engine_verdicts(events: dict[str, dict[str, Any]]) -> dict[TimerKey, str]:
    """What the report must show for the SLA events of a run (deleted tickets' timers left out)."""
    from tests.reliability.support.workload import verdicts

    by_timer = verdicts(events.values())
    started = {
        e["data"]["timer_id"]: (
            e["data"]["ticket_id"],
            e["data"]["metric"],
            datetime.fromisoformat(e["data"]["started_at"]),
        )
        for e in events.values()
    }
    return {started[t]: v for t, v in by_timer.items() if v != "deleted"}


def raw_values(events: dict[str, dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    """The events as (key, value) again, in their log order, `emitted_at` restored."""
    out = []
    for event in events.values():
        event = {**event, "data": {**event["data"], "emitted_at": event["time"]}}
        out.append((event["subject"].encode(), orjson.dumps(event)))
    return out


async def wait_for_report(
    api: ServiceProcess, expected: dict[TimerKey, str], within: float
) -> dict[TimerKey, str]:
    """Poll the report until it shows `expected`; return what it last showed."""
    deadline = time.monotonic() + within
    actual: dict[TimerKey, str] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            actual = report_verdicts(await log_rows(api))
        if actual == expected:
            break
        await asyncio.sleep(0.5)
    return actual


def report_mismatches(expected: dict[TimerKey, str], actual: dict[TimerKey, str]) -> list[str]:
    return [
        f"{key}: {expected.get(key, 'absent')} expected, {actual.get(key, 'absent')} reported"
        for key in sorted(expected.keys() | actual.keys())
        if expected.get(key) != actual.get(key)
    ]
