"""`report-api migrate`, `serve` and `rebuild` as processes: the HTTP API and the projection
consumer (a real consumer group on the real broker) in one process, a rebuild from the topic that
equals the live projection, graceful shutdown, and a schemathesis run over the OpenAPI document
that finds no server error."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from report_api.testing import produce, sla_event
from sla_devtools.infra import free_port
from tests.integration.report_api.conftest import AUTH, TOKEN, Stream
from tests.integration.report_api.test_report_figures import known_stream

RUNNING = {"running", "breached"}  # their seconds left move with the clock
CLI = str(Path(sys.executable).parent / "report-api")


def environment(stream: Stream, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "SLA_DATABASE_URL": stream.database_url,
        "SLA_KAFKA_BOOTSTRAP_SERVERS": stream.bootstrap_servers,
        "SLA_EVENTS_TOPIC": stream.topic,
        "SLA_API_TOKENS": TOKEN,
        "SLA_API_PORT": str(port),
        "SLA_API_HOST": "127.0.0.1",
        "SLA_PROJECTION_GROUP_ID": f"report-test-{uuid.uuid4().hex[:8]}",
        "SLA_KAFKA_SESSION_TIMEOUT_MS": "3000",
        "SLA_LOG_LEVEL": "WARNING",
    }


async def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, [CLI, *args], env=env, capture_output=True, text=True, timeout=120
    )


async def wait_until(check: Any, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.2)


class Server:
    def __init__(self, base_url: str, env: dict[str, str], stream: Stream) -> None:
        self.base_url = base_url
        self.env = env
        self.stream = stream
        self.client = httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=10)


@pytest.fixture(scope="module")
async def server(stream: Stream, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    port = free_port()
    env = environment(stream, port)
    migrated = await run_cli(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    log = tmp_path_factory.mktemp("serve") / "report-api.log"
    with log.open("wb") as sink:
        process = await asyncio.to_thread(
            subprocess.Popen, [CLI, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=sink
        )
    server = Server(f"http://127.0.0.1:{port}", env, stream)

    async def healthy() -> bool:
        try:
            return (await server.client.get("/healthz")).status_code == 200
        except httpx.TransportError:
            assert process.poll() is None, log.read_text()[-3000:]
            return False

    try:
        await wait_until(healthy)
        yield server
    finally:
        await server.client.aclose()
        process.send_signal(signal.SIGTERM)  # graceful: drain requests, stop the consumer
        code = await asyncio.to_thread(process.wait, 30)
        # uvicorn re-raises the signal once it has shut down gracefully.
        assert code in {0, -signal.SIGTERM}, log.read_text()[-3000:]
        assert "Traceback" not in log.read_text()


async def test_serve_projects_the_topic_and_turns_ready(server: Server) -> None:
    async def ready() -> bool:
        return (await server.client.get("/readyz")).status_code == 200

    await wait_until(ready)
    await produce(server.stream.bootstrap_servers, server.stream.topic, known_stream())

    async def projected() -> dict[str, Any] | None:
        response = await server.client.get("/v1/tickets/T8/sla")
        return response.json() if response.status_code == 200 else None

    body = await wait_until(projected)
    assert body["timers"][0]["state"] == "fulfilled"
    metrics = (await server.client.get("/metrics")).text
    assert "report_api_projection_lag_seconds" in metrics
    assert 'report_api_projection_events_total{outcome="applied",type="sla.started"}' in metrics


async def snapshot(client: httpx.AsyncClient) -> tuple[Any, ...]:
    compliance = await client.get(
        "/v1/reports/compliance",
        params={"from": "2026-03-01", "to": "2026-04-01", "group_by": "date,agent,metric"},
    )
    log = await client.get("/v1/reports/log", params={"sort": "ticket", "limit": 1000})
    csv = await client.get("/v1/reports/log", params={"sort": "ticket", "format": "csv"})
    rows = [
        {
            k: v
            for k, v in r.items()
            if k != "sla_seconds" or r["state"] not in {"running", "breached"}
        }
        for r in log.json()["rows"]
    ]
    return compliance.json(), rows, csv.text.count("\n")


async def test_rebuild_equals_the_live_projection(server: Server) -> None:
    client = server.client

    async def all_there() -> bool:
        return (await client.get("/v1/tickets/T8/sla")).status_code == 200

    await wait_until(all_there)
    live = await snapshot(client)
    assert live[1]  # there is something to compare
    # The engine's tables share the schema with the defaults (`public`): the rebuild keeps them.
    conn = await asyncpg.connect(server.env["SLA_DATABASE_URL"])
    try:
        await conn.execute(
            "CREATE TABLE engine_kept (id bigserial PRIMARY KEY, note text); "
            "INSERT INTO engine_kept (note) VALUES ('a snapshot row')"
        )
        rebuilt = await run_cli(server.env, "rebuild")
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert await conn.fetch("SELECT id, note FROM public.engine_kept") == [
            (1, "a snapshot row")
        ]
        await conn.execute("INSERT INTO public.engine_kept (note) VALUES ('after')")  # its sequence
        assert await conn.fetchval("SELECT max(id) FROM public.engine_kept") == 2
    finally:
        await conn.close()
    assert await snapshot(client) == live
    # The live consumer goes on after the swap: a new event lands in the rebuilt tables.
    late = sla_event(
        "sla.started", "AFTER", time="2026-03-05T09:00:00Z", started="2026-03-05T09:00:00Z"
    )
    await produce(server.stream.bootstrap_servers, server.stream.topic, [late])

    async def after() -> bool:
        return (await client.get("/v1/tickets/AFTER/sla")).status_code == 200

    await wait_until(after)


async def test_no_server_error_anywhere(server: Server) -> None:
    """Schemathesis generates requests for every operation of the OpenAPI document (valid and
    invalid parameters); none may answer 5xx or contradict the document."""
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]

    calls = 0

    async def ready() -> bool:
        return (await server.client.get("/readyz")).status_code == 200

    await wait_until(ready)

    def fuzz() -> int:
        schema = schemathesis.openapi.from_url(server.base_url + "/openapi.json")
        operations = 0
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1

            @given(case=operation.as_strategy())
            @settings(
                max_examples=30,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def run(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                # 503 is /readyz's documented "not ready" answer, not a server error.
                probe = case.operation.path == "/readyz"
                case.call_and_validate(headers=AUTH, timeout=15, checks=checks[probe:])

            run()
        return operations

    operations = await asyncio.to_thread(fuzz)
    assert operations >= 6
    assert calls >= 10 * operations
