"""The history against the real broker and PostgreSQL: token scopes on every route, the policy
registry written by a bootstrapped engine and served by the API, and the ticket event archive
(both CloudEvents modes, duplicates once, undecodable records kept, restarts without doubles,
a range read back in event-time order)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from conftest import TOKEN, Stream, open_client

from report_api.archive.consumer import ArchiveRunner
from report_api.archive.read import archived_events
from report_api.testing import create_database, create_topic
from sla_core.codec import encode_ticket_event, format_time
from sla_devtools.infra import Infra
from sla_engine.bootstrap import bootstrap
from sla_engine.config import EngineSettings
from tests.support.kafka import TicketProducer

ADMIN = "admin-token-0123456789"
BOTH = "both-token-0123456789"
TOKENS = f"{TOKEN},{ADMIN}:policies:admin,{BOTH}:reports:read+policies:admin"
POLICY = """\
levels:
  standard:
    targets: {first_answer: 4h, next_answer: 8h, resolution: 48h}
default_level: standard
"""
ORIGIN = datetime(2026, 1, 31, 23, 0, tzinfo=UTC)  # a month boundary inside the data


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def wait_for(check: object, *, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


# ---- scopes ---------------------------------------------------------------------------------


async def test_every_route_needs_a_token_with_its_scope(stream: Stream) -> None:
    async for client in open_client(stream.settings(api_tokens=TOKENS)):
        paths = (await client.get("/openapi.json")).json()["paths"]
        guarded = {p for p in paths if p.startswith("/v1")}
        assert {"/v1/policies", "/v1/policies/{version}"} <= guarded
        assert {"/v1/what-if", "/v1/what-if/{job_id}"} <= guarded
        admin_only = ("/v1/policies", "/v1/what-if")
        for path in sorted(guarded):
            url = path.replace("{ticket_id}", "t-1").replace("{version}", "sha256:0")
            url = url.replace("{job_id}", "no-such-job")
            needs = "policies:admin" if path.startswith(admin_only) else "reports:read"
            wrong, right = (TOKEN, ADMIN) if needs == "policies:admin" else (ADMIN, TOKEN)
            ranged = "compliance" in url or "ownership" in url  # from and to required
            params = {"from": "2026-01-01", "to": "2026-01-02"} if ranged else {}
            # POST /v1/what-if with an empty body: the token is checked before the body (400)
            method, ok = ("POST", {400}) if "post" in paths[path] else ("GET", {200, 404})
            body = {} if method == "POST" else None
            call = functools.partial(client.request, method, url, params=params, json=body)

            missing = await call(headers={"Authorization": ""})
            assert missing.status_code == 401, (url, missing.text)
            refused = await call(headers=bearer(wrong))
            assert refused.status_code == 403, (url, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert needs in refused.json()["detail"]
            for token in (right, BOTH):
                allowed = await call(headers=bearer(token))
                assert allowed.status_code in ok, (url, allowed.text)


# ---- the policy registry --------------------------------------------------------------------


@contextlib.asynccontextmanager
async def engine(infra: Infra, url: str, policy: Path) -> AsyncIterator[object]:
    unique = uuid.uuid4().hex[:10]
    settings = EngineSettings(
        kafka_bootstrap_servers=infra.bootstrap_servers,
        database_url=url,
        policy_file=policy,
        ticket_topic=f"tickets-{unique}",
        events_topic=f"sla-{unique}",
        breach_topic=f"breaches-{unique}",
        dlq_topic=f"dlq-{unique}",
        engine_group_id=f"engine-{unique}",
        kafka_idempotence=False,
        topic_partitions=1,
        kafka_session_timeout_ms=3000,
        kafka_rebalance_timeout_ms=3000,
    )
    service = bootstrap(settings)
    await service.start()
    task = asyncio.create_task(service.run())
    try:
        yield service
    finally:
        await service.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_engine_records_each_version_it_loads_and_the_api_serves_them(
    infra: Infra, stream: Stream, tmp_path: Path
) -> None:
    url = await create_database(infra.database_url, f"registry_{uuid.uuid4().hex[:10]}")
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    conn = await asyncpg.connect(url)
    try:

        async def versions(n: int) -> bool:
            return await conn.fetchval("SELECT count(*) FROM policy_versions") >= n  # type: ignore[no-any-return]

        async with engine(infra, url, path) as service:
            await wait_for(lambda: versions(1))
            first = service.policy.version  # type: ignore[attr-defined]
            path.write_text(
                POLICY.replace("48h", "24h")
                + "policy: {effective_from: '2026-12-01T00:00:00+01:00', retarget_open: true}\n"
                + "# the second version\n"
            )
            service.reload_policy(force=True)  # type: ignore[attr-defined]
            second = service.policy.version  # type: ignore[attr-defined]
            assert second != first
            await wait_for(lambda: versions(2))
            service.reload_policy(force=True)  # type: ignore[attr-defined]
        rows = await conn.fetch("SELECT version, source FROM policy_versions")
        assert {r["version"] for r in rows} == {first, second}
        assert {r["source"] for r in rows} == {str(path)}
    finally:
        await conn.close()
    settings = stream.settings(api_tokens=TOKENS, database_url=url)
    async for client in open_client(settings):
        listed = await client.get("/v1/policies", headers=bearer(ADMIN))
        assert listed.status_code == 200, listed.text
        assert [p["version"] for p in listed.json()] == [second, first]  # newest first
        newest, oldest = listed.json()
        assert set(newest) == {
            "version",
            "first_loaded_at",
            "source",
            "sha256",
            "effective_from",
            "retarget_open",
        }
        assert (newest["effective_from"], newest["retarget_open"]) == (
            "2026-11-30T23:00:00+00:00",
            True,
        )
        assert (oldest["effective_from"], oldest["retarget_open"]) == (None, False)
        csv = await client.get("/v1/policies", headers=bearer(ADMIN), params={"format": "csv"})
        header, first_row, second_row = csv.text.splitlines()
        assert header == "version,first_loaded_at,source,sha256,effective_from,retarget_open"
        assert first_row.endswith(",2026-11-30T23:00:00+00:00,true")
        assert second_row.endswith(",,false")
        one = await client.get(f"/v1/policies/{first}", headers=bearer(ADMIN))
        assert one.status_code == 200
        assert one.headers["content-type"].startswith("application/yaml")
        assert one.text == POLICY
        two = await client.get(f"/v1/policies/{second}", headers=bearer(ADMIN))
        assert two.text.endswith("# the second version\n")
        unknown = await client.get("/v1/policies/sha256:ffff", headers=bearer(ADMIN))
        assert unknown.status_code == 404
        assert unknown.headers["content-type"].startswith("application/problem+json")


async def test_the_api_answers_with_an_empty_registry_before_the_engine_ran(
    stream: Stream,
) -> None:
    async for client in open_client(stream.settings(api_tokens=TOKENS, engine_schema="nowhere")):
        listed = await client.get("/v1/policies", headers=bearer(ADMIN))
        assert listed.status_code == 200 and listed.json() == []
        assert (await client.get("/v1/policies/sha256:0", headers=bearer(ADMIN))).status_code == 404


# ---- the archive ----------------------------------------------------------------------------


def structured(event_id: str, at: datetime, ticket: str, source: str = "helpdesk") -> bytes:
    return encode_ticket_event(
        event_id=event_id,
        source=source,
        type="ticket.updated",
        time=at,
        ticket_id=ticket,
        data={"ticket": {"status": "open"}},
    )


def binary_headers(event_id: str, at: datetime, ticket: str) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", b"1.0"),
        ("ce_id", event_id.encode()),
        ("ce_source", b"helpdesk"),
        ("ce_type", b"ticket.created"),
        ("ce_time", format_time(at).encode()),
        ("ce_subject", ticket.encode()),
        ("content-type", b"application/json"),
    ]


def archive_runner(infra: Infra, url: str, topic: str) -> ArchiveRunner:
    return ArchiveRunner(
        bootstrap_servers=infra.bootstrap_servers, topic=topic, database_url=url, group_id=None
    )


async def test_the_archive_keeps_every_record_once_and_reads_a_range_in_event_time_order(
    infra: Infra,
) -> None:
    name = uuid.uuid4().hex[:10]
    url = await create_database(infra.database_url, f"archive_{name}")
    topic = f"tickets.archive.{name}"
    await create_topic(infra.bootstrap_servers, topic, partitions=2)
    times = [ORIGIN + timedelta(minutes=20 * i) for i in range(6)]  # January into February
    async with TicketProducer(infra.bootstrap_servers, topic) as p:
        # sent out of event-time order, over two partitions (keys)
        for i in (3, 0, 5, 1):
            await p.raw(structured(f"e{i}", times[i], f"t{i % 2}"), f"t{i % 2}".encode())
        await p.raw(b'{"ticket": {}}', b"t0", headers=binary_headers("e2", times[2], "t0"))
        await p.raw(b"{not json", b"t1", headers=[("trace", b"\xff\x00")])
        # the same (source, id) again, even with another time: archived once
        await p.raw(structured("e3", times[4], "t1"), b"t1")
    runner = archive_runner(infra, url, topic)
    await runner.catch_up()
    assert (runner.archived, runner.duplicates, runner.undecodable) == (6, 1, 1)
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT tableoid::regclass::text AS part, time, source, id, type, ticket_id, key, "
            "value, header_keys, header_values, error FROM sla_archive.ticket_events"
        )
        by_id = {r["id"]: r for r in rows}
        assert set(by_id) == {"e0", "e1", "e2", "e3", "e5", None}
        assert by_id["e3"]["time"] == times[3]
        assert by_id["e2"]["type"] == "ticket.created"
        assert by_id["e2"]["header_keys"][0] == "ce_specversion"
        assert by_id["e2"]["value"] == b'{"ticket": {}}'
        bad = by_id[None]
        assert bad["time"] is None and bad["error"] == "not_json"
        assert (bad["key"], bad["value"], bad["header_values"]) == (
            b"t1",
            b"{not json",
            [b"\xff\x00"],
        )
        parts = {r["id"]: r["part"] for r in rows}
        assert parts["e0"].endswith("ticket_events_2026_01")
        assert parts["e5"].endswith("ticket_events_2026_02")
        assert parts[None].endswith("ticket_events_default")
        read = [e async for e in archived_events(conn, start=times[0], end=times[5])]
        assert [e.id for e in read] == ["e0", "e1", "e2", "e3"]
        assert [e.time for e in read] == sorted(e.time for e in read)
        assert read[2].ticket_id == "t0"  # the binary-mode one, decoded again from its headers

        # more records, and a restart from the committed offsets: nothing twice
        async with TicketProducer(infra.bootstrap_servers, topic) as p:
            await p.raw(structured("e6", times[5] + timedelta(days=400), "t0"), b"t0")
            await p.raw(structured("e0", times[0], "t0"), b"t0")  # re-sent
        again = archive_runner(infra, url, topic)
        await again.catch_up()
        assert (again.archived, again.duplicates) == (1, 1)
        assert await conn.fetchval("SELECT count(*) FROM sla_archive.ticket_events") == 7
        assert await conn.fetchval("SELECT count(*) FROM sla_archive.ticket_event_ids") == 6
        idle = archive_runner(infra, url, topic)
        await idle.catch_up()
        assert idle.archived == idle.duplicates == 0
    finally:
        await conn.close()


async def test_serve_runs_the_archive_beside_the_api(infra: Infra, stream: Stream) -> None:
    name = uuid.uuid4().hex[:10]
    url = await create_database(infra.database_url, f"served_{name}")
    topic = f"tickets.served.{name}"
    await create_topic(infra.bootstrap_servers, topic, partitions=1)
    async with TicketProducer(infra.bootstrap_servers, topic) as p:
        await p.raw(structured("s1", ORIGIN, "t1"), b"t1")
    settings = stream.settings(
        database_url=url,
        archive_enabled=True,
        ticket_topic=topic,
        archive_group_id=f"archive-{name}",
    )
    async for client in open_client(settings):

        async def archived(c: httpx.AsyncClient = client) -> bool:
            body = (await c.get("/readyz")).json()
            metrics = (await c.get("/metrics")).text
            return body["archive"] == "running" and (
                'report_api_archive_records_total{outcome="archived"} 1.0' in metrics
            )

        await wait_for(archived)
    conn = await asyncpg.connect(url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM sla_archive.ticket_events") == 1
    finally:
        await conn.close()


async def test_a_stored_offset_past_the_end_of_its_log_is_reported_not_waited_on_silently(
    infra: Infra, caplog: pytest.LogCaptureFixture
) -> None:
    """A topic recreated while the database kept its offsets (a broker without storage, a
    topic deleted by hand): the consumer would wait at the old offset and never read the new
    log's records before it. It says so: an error log and `report_api_offsets_past_end`."""
    name = uuid.uuid4().hex[:10]
    url = await create_database(infra.database_url, f"past_end_{name}")
    topic = f"tickets.past.{name}"
    await create_topic(infra.bootstrap_servers, topic, partitions=1)
    async with TicketProducer(infra.bootstrap_servers, topic) as p:
        await p.raw(structured("e1", ORIGIN, "t1"), b"t1")
    runner = archive_runner(infra, url, topic)
    await runner.catch_up()
    gauge = runner._metrics.offsets_past_end.labels("archive")
    assert (runner.archived, gauge._value.get()) == (1, 0)
    conn = await asyncpg.connect(url)
    try:  # as if the log had been recreated shorter than what the database remembers
        await conn.execute("UPDATE sla_archive.archive_offsets SET next_offset = 1000")
    finally:
        await conn.close()
    stale = archive_runner(infra, url, topic)
    with caplog.at_level("ERROR", logger="report_api.projection.runner"):
        await stale.catch_up()
    assert stale._metrics.offsets_past_end.labels("archive")._value.get() == 1
    (record,) = [r for r in caplog.records if "past the end" in r.getMessage()]
    assert (record.stored, record.end, record.consumer) == (1000, 1, "archive")  # type: ignore[attr-defined]
