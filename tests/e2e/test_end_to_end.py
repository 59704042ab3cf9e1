"""The first path, end to end, with the real commands: a ticket event in Kafka becomes an SLA
timer in `sla-engine run`, then a breach on the breach topic, then a row in the reports of
`report-api serve`. Both services run as subprocesses, as an operator starts them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sla_devtools.infra import Infra, free_port
from tests.support.kafka import TicketProducer, TopicReader, create_topics

BIN = Path(sys.executable).parent
POLICY = """
levels:
  fast:
    targets: {first_answer: 3s, resolution: 1h}
default_level: fast
"""
TOKEN = "e2e-token"


class Services:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.api = f"http://127.0.0.1:{env['SLA_API_PORT']}"
        self.engine = f"http://127.0.0.1:{env['SLA_ENGINE_HTTP_PORT']}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        with (self.logs / f"{name}.log").open("wb") as out:
            self.procs[name] = subprocess.Popen(
                [str(BIN / name), *args], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop(self) -> dict[str, int]:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        return {name: proc.wait(timeout=30) for name, proc in self.procs.items()}


@pytest.fixture
def services(infra: Infra, unique: str, tmp_path: Path) -> Iterator[Services]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env = {
        **os.environ,
        "SLA_KAFKA_BOOTSTRAP_SERVERS": infra.bootstrap_servers,
        "SLA_DATABASE_URL": infra.database_url,
        "SLA_DATABASE_SCHEMA": f"e2e_{unique}",
        "SLA_POLICY_FILE": str(policy),
        "SLA_TICKET_TOPIC": f"tickets-{unique}",
        "SLA_EVENTS_TOPIC": f"sla-{unique}",
        "SLA_BREACH_TOPIC": f"breaches-{unique}",
        "SLA_DLQ_TOPIC": f"dlq-{unique}",
        "SLA_ENGINE_GROUP_ID": f"engine-{unique}",
        "SLA_PROJECTION_GROUP_ID": f"projection-{unique}",
        "SLA_KAFKA_SESSION_TIMEOUT_MS": "3000",
        "SLA_KAFKA_REBALANCE_TIMEOUT_MS": "3000",
        "SLA_KAFKA_IDEMPOTENCE": "false",
        "SLA_GRACE_SECONDS": "0.2",
        "SLA_API_TOKENS": TOKEN,
        "SLA_API_PORT": str(free_port()),
        "SLA_ENGINE_HTTP_PORT": str(free_port()),
    }
    migrate = subprocess.run(
        [str(BIN / "report-api"), "migrate"], env=env, capture_output=True, text=True
    )
    assert migrate.returncode == 0, migrate.stderr
    svc = Services(env, tmp_path)
    try:
        yield svc
    finally:
        codes = svc.stop()
        # uvicorn re-raises SIGTERM after its graceful shutdown, so report-api ends by it
        clean = {"report-api": (0, -signal.SIGTERM), "sla-engine": (0,)}
        assert all(codes[name] in ok for name, ok in clean.items()), (
            codes,
            svc.log("sla-engine"),
            svc.log("report-api"),
        )


async def wait_ready(client: httpx.AsyncClient, url: str, svc: Services) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for name, proc in svc.procs.items():
            assert proc.poll() is None, f"{name} exited:\n{svc.log(name)}"
        try:
            if (await client.get(url)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never ready")


async def poll(client: httpx.AsyncClient, url: str, params: dict[str, Any], check: Any) -> Any:
    """GET until `check(body)` holds (the projection is eventually consistent)."""
    deadline = time.monotonic() + 30
    body: Any = None
    while time.monotonic() < deadline:
        response = await client.get(url, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        if check(body):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} {params}: last answer {body}")


async def test_ticket_event_to_breach_topic_to_report_rows(
    infra: Infra, unique: str, services: Services
) -> None:
    env = services.env
    await create_topics(
        infra.bootstrap_servers,
        env["SLA_TICKET_TOPIC"],
        env["SLA_EVENTS_TOPIC"],
        env["SLA_BREACH_TOPIC"],
        env["SLA_DLQ_TOPIC"],
    )
    services.start("report-api", "serve")
    services.start("sla-engine", "run")
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
