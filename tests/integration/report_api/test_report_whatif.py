"""The what-if API against the real PostgreSQL: a candidate policy checked (422 naming its path
and line, 400 naming a bad parameter), a job replaying records archived by the archive's own
store, its progress and result, the changed timers paged and as CSV, a failed job's reason, and
nothing written to the projection."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from conftest import Stream, open_client

from report_api.archive.store import commit_archive_batch, ensure_partitions, staging_rows
from report_api.projection.store import Partition
from report_api.testing import create_database
from sla_core.codec import encode_ticket_event
from sla_devtools.infra import Infra

ADMIN = "whatif-admin-0123456789"
POLICY = """\
levels:
  standard:
    targets: {first_answer: 1h}
default_level: standard
"""
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


@dataclass
class ArchivedRecord:
    """The part of a Kafka record the archive keeps."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    timestamp: int = 0
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def ticket_event(n: int, type: str, at: datetime, ticket: str) -> bytes:
    return encode_ticket_event(
        event_id=f"{ticket}-{n}", source="helpdesk", type=type, time=at, ticket_id=ticket, data={}
    )


async def archive(url: str, topic: str, values: list[tuple[int, bytes]]) -> None:
    """Archive (partition, value) records, each partition's in offset order, as the consumer
    does."""
    offsets: dict[int, int] = {}
    records = []
    for partition, value in values:
        offset = offsets.get(partition, 0)
        offsets[partition] = offset + 1
        records.append(ArchivedRecord(topic, partition, offset, value))
    rows = staging_rows(records)
    conn = await asyncpg.connect(url, server_settings={"search_path": "sla_archive"})
    try:
        await ensure_partitions(conn, rows, set())
        positions = {Partition(topic, p): n for p, n in offsets.items()}
        await commit_archive_batch(conn, rows, positions, dict.fromkeys(positions))
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def database(infra: Infra) -> str:
    return await create_database(infra.database_url, f"whatif_{uuid.uuid4().hex[:10]}")


async def wait_done(client: httpx.AsyncClient, href: str) -> dict[str, Any]:
    for _ in range(300):
        job: dict[str, Any] = (await client.get(href)).json()
        if job["status"] in ("done", "failed"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"never finished: {job}")


def admin(stream: Stream, url: str, **overrides: Any) -> Any:
    return stream.settings(database_url=url, api_tokens=f"{ADMIN}:policies:admin", **overrides)


async def test_a_bad_candidate_policy_is_refused_with_its_path_and_line(
    stream: Stream, database: str
) -> None:
    bad = POLICY.replace("1h", "'4 hours'")
    async for client in open_client(admin(stream, database)):
        client.headers["Authorization"] = f"Bearer {ADMIN}"
        body = {"policy": bad, "from": "2026-03-01", "to": "2026-03-02"}
        refused = await client.post("/v1/what-if", json=body)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        (param,) = refused.json()["invalid_params"]
        assert param["name"] == "policy.levels.standard.targets.first_answer"
        assert param["reason"].startswith("line 3: ")
        older = {**body, "policy": POLICY, "older_policies": [POLICY, bad]}
        refused = await client.post("/v1/what-if", json=older)
        assert refused.status_code == 422, refused.text
        (param,) = refused.json()["invalid_params"]
        assert param["name"] == "older_policies[1].levels.standard.targets.first_answer"
        broken = await client.post("/v1/what-if", json={**body, "policy": "levels: [\n"})
        assert broken.status_code == 422
        assert "line" in broken.json()["invalid_params"][0]["reason"]
        for name, value in (("tz", "Mars/Olympus"), ("group_by", "colour"), ("to", "2026-02-01")):
            answer = await client.post("/v1/what-if", json={**body, "policy": POLICY, name: value})
            assert answer.status_code == 400, answer.text
            assert answer.json()["invalid_params"][0]["name"] == name
        missing = await client.post("/v1/what-if", json={"from": "2026-03-01", "to": "2026-03-02"})
        assert missing.status_code == 400
        assert missing.json()["invalid_params"][0]["name"] == "policy"
        unknown = await client.get(f"/v1/what-if/{uuid.uuid4()}")
        assert unknown.status_code == 404


async def test_a_job_replays_the_archive_and_lists_the_timers_that_change(
    stream: Stream, database: str
) -> None:
    """The projection is empty here, so each candidate timer started in the range is a change
    from nothing (live null). Three tickets in range on two partitions, one outside it whose
    history is therefore not read."""
    topic = f"tickets.whatif.{uuid.uuid4().hex[:8]}"
    await archive(
        database,
        topic,
        [
            (0, ticket_event(1, "ticket.created", T0, "A")),
            (0, ticket_event(2, "ticket.answered", T0 + H / 2, "A")),  # fulfilled
            (1, ticket_event(1, "ticket.created", T0, "B")),  # breached, never answered
            (1, ticket_event(1, "ticket.created", T0 + H, "C")),
            (1, ticket_event(2, "ticket.answered", T0 + 3 * H, "C")),  # missed
            (0, ticket_event(1, "ticket.created", T0 - 48 * H, "OLD")),
        ],
    )
    async for client in open_client(admin(stream, database, ticket_topic=topic)):
        client.headers["Authorization"] = f"Bearer {ADMIN}"
        body = {"policy": POLICY, "from": "2026-03-02", "to": "2026-03-03", "group_by": ["level"]}
        started = await client.post("/v1/what-if", json=body)
        assert started.status_code == 202, started.text
        assert started.json()["status"] == "queued"
        job = await wait_done(client, started.headers["location"])
        assert job["status"] == "done", job
        assert job["progress"] == {"events_done": 5, "events_total": 5, "fraction": 1.0}
        assert job["request"]["group_by"] == ["level"]
        (row,) = job["result"]["rows"]
        assert row["level"] == "standard"
        assert row["live"] == {"fulfilled": 0, "missed": 0, "compliance_ratio": None}
        assert row["candidate"] == {"fulfilled": 1, "missed": 2, "compliance_ratio": 0.3333}
        assert row["difference"] == {"fulfilled": 1, "missed": 2, "compliance_ratio": None}
        assert job["result"]["changed_tickets"] == 3

        href = f"{started.headers['location']}/tickets"
        pages, cursor = [], None
        while True:
            params = {"limit": "2"} if cursor is None else {"limit": "2", "cursor": cursor}
            page = (await client.get(href, params=params)).json()
            pages.append(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert [len(p) for p in pages] == [2, 1]
        items = [i for p in pages for i in p]
        assert [(i["ticket_id"], i["live"], i["candidate"]) for i in items] == [
            ("A", None, "fulfilled"),
            ("B", None, "breached"),
            ("C", None, "missed"),
        ]
        assert items[2]["candidate_due_at"] == (T0 + 2 * H).isoformat()
        forged = await client.get(href, params={"cursor": "x.y"})
        assert forged.status_code == 400
        csv = await client.get(href, headers={"Accept": "text/csv"})
        assert csv.text.splitlines()[1].startswith("A,A:first_answer:1,first_answer,1,standard,")
    conn = await asyncpg.connect(database)
    try:  # nothing was written to the projection
        assert await conn.fetchval("SELECT count(*) FROM sla_timers") == 0
        assert await conn.fetchval("SELECT count(*) FROM rollup_quarter") == 0
    finally:
        await conn.close()


async def test_a_failed_job_says_why(stream: Stream, database: str) -> None:
    settings = admin(stream, database, archive_schema="no_such_archive")
    async for client in open_client(settings):
        client.headers["Authorization"] = f"Bearer {ADMIN}"
        body = {"policy": POLICY, "from": "2026-03-02", "to": "2026-03-03"}
        started = await client.post("/v1/what-if", json=body)
        job = await wait_done(client, started.json()["href"])
        assert job["status"] == "failed"
        assert job["result"] is None
        assert "no_such_archive" in job["error"]["detail"]
