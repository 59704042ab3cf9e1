"""Fixtures of the end-to-end tests: the real commands (`sla-engine run`, `report-api serve`) as
subprocesses against the session's broker and PostgreSQL, with topics, groups and a schema of
their own per test, and helpers that wait for them.

No `__init__.py` here, as in tests/integration/report_api: the test modules import these names
from `tests.e2e.conftest`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sla_devtools.infra import Infra, free_port
from tests.support.kafka import create_topics

BIN = Path(sys.executable).parent
POLICY = """
levels:
  fast:
    targets: {first_answer: 3s, resolution: 1h}
default_level: fast
"""
TOKEN = "e2e-token"
ADMIN_TOKEN = "e2e-admin"  # carries policies:admin (the policies and the what-if)


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

    async def create_topics(self) -> None:
        """The test's four topics: tickets, SLA events, breaches, dead letters."""
        env = self.env
        await create_topics(
            env["SLA_KAFKA_BOOTSTRAP_SERVERS"],
            env["SLA_TICKET_TOPIC"],
            env["SLA_EVENTS_TOPIC"],
            env["SLA_BREACH_TOPIC"],
            env["SLA_DLQ_TOPIC"],
        )

    async def up(self) -> None:
        """The topics, then `report-api serve` and `sla-engine run`."""
        await self.create_topics()
        self.start("report-api", "serve")
        self.start("sla-engine", "run")

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop(self) -> dict[str, int]:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        return {name: proc.wait(timeout=30) for name, proc in self.procs.items()}


@pytest.fixture
def services(
    request: pytest.FixtureRequest, infra: Infra, unique: str, tmp_path: Path
) -> Iterator[Services]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(getattr(request, "param", POLICY))  # a test may pass its own (indirect)
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
        "SLA_API_TOKENS": f"{TOKEN},{ADMIN_TOKEN}:policies:admin",
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
