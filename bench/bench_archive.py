"""The ticket event archive's ingest against a bare COPY.

- archive_vs_copy: the archive consumer's batch path (`archive.store.staging_rows`, the codec's
  decode included, then `ensure_partitions` and `commit_archive_batch`: COPY into the staging
  table, the (source, id) claim and the partitioned insert, the offsets) for batches of 5,000
  records, against `copy_records_to_table` of the same rows into a plain table (no partitions,
  no indexes, no dedup). Records: structured-mode events over 3 months, every tenth one in binary
  mode, 1% re-sent (same source and id), 0.5% undecodable. Three rounds, each on a new topic into
  the same (growing) tables, the two taken batch by batch in turn; the value and reference are
  the medians of records per second.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.harness import Goal, Metric, Profile
from bench.servers import servers
from report_api import db
from report_api.archive.store import (
    STAGING_COLUMNS,
    commit_archive_batch,
    ensure_partitions,
    staging_rows,
)
from report_api.projection.store import Partition
from report_api.testing import create_database
from sla_core.codec import encode_ticket_event, format_time

METRICS = ("archive_vs_copy",)
BATCH = 5000
ROUNDS = 3
ORIGIN = datetime(2026, 7, 1, tzinfo=UTC)
PLAIN = """
CREATE TABLE plain_events (
    time timestamptz, source text, id text, type text, ticket_id text, topic text NOT NULL,
    partition integer NOT NULL, "offset" bigint NOT NULL, timestamp_ms bigint, key bytea,
    value bytea, header_keys text[] NOT NULL, header_values bytea[] NOT NULL, error text
)"""


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def records(topic: str, count: int) -> list[Record]:
    """`count` records of one partition: mostly structured, some binary, re-sent and broken."""
    out = []
    for i in range(count):
        at = ORIGIN + timedelta(seconds=(i * 7919) % (90 * 86400))
        ticket = f"t-{i // 4}"
        # unique per topic (a round is new events), 1% re-sent within it
        event_id = f"{topic}-{i - 1}" if i % 100 == 99 else f"{topic}-{i}"
        data = {"ticket": {"status": "open", "department": "support", "priority": "high"}}
        if i % 200 == 7:
            value, headers = b"{broken", [("trace", b"x")]
        elif i % 10 == 3:
            value = b'{"ticket": {"status": "open", "department": "support"}}'
            headers = [
                ("ce_specversion", b"1.0"),
                ("ce_id", event_id.encode()),
                ("ce_source", b"helpdesk"),
                ("ce_type", b"ticket.updated"),
                ("ce_time", format_time(at).encode()),
                ("ce_subject", ticket.encode()),
                ("content-type", b"application/json"),
            ]
        else:
            value = encode_ticket_event(
                event_id=event_id,
                source="helpdesk",
                type="ticket.updated",
                time=at,
                ticket_id=ticket,
                data=data,
            )
            headers = [("content-type", b"application/cloudevents+json")]
        out.append(Record(topic, 0, i, 1_780_000_000_000 + i, ticket.encode(), value, headers))
    return out


async def interleaved_round(
    conn: asyncpg.Connection, batch: list[Record], months: set[Any]
) -> tuple[float, float]:
    """Seconds to archive `batch` through the consumer's batch path, and seconds to COPY the
    same rows (decoded beforehand, untimed) into the plain table: batch by batch in turn, so a
    noisy neighbour slows both alike."""
    partition = Partition(batch[0].topic, 0)
    offset: int | None = None
    ours = plain = 0.0
    for i in range(0, len(batch), BATCH):
        part = batch[i : i + BATCH]
        started = time.perf_counter()
        rows = staging_rows(part)
        await ensure_partitions(conn, rows, months)
        nxt = part[-1].offset + 1
        await commit_archive_batch(conn, rows, {partition: nxt}, {partition: offset})
        offset = nxt
        ours += time.perf_counter() - started
        copied = [row[1:] for row in staging_rows(part)]
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "plain_events", records=copied, columns=list(STAGING_COLUMNS[1:])
        )
        plain += time.perf_counter() - started
    return ours, plain


async def _run(profile: Profile) -> Metric:
    count = profile.projection_events * 5
    with servers(broker=False) as infra:
        url = await create_database(infra.database_url, f"bench_{uuid.uuid4().hex[:8]}")
        conn = await db.connect(url, schema="sla_archive", statement_timeout_ms=0, app="bench")
        try:
            await conn.execute(PLAIN)
            months: set[Any] = set()
            ours: list[float] = []
            plain: list[float] = []
            for _ in range(ROUNDS):
                batch = records(f"tickets-{uuid.uuid4().hex[:6]}", count)
                ours_s, plain_s = await interleaved_round(conn, batch, months)
                ours.append(count / ours_s)
                plain.append(count / plain_s)
            archived = await conn.fetchval("SELECT count(*) FROM ticket_events")
            copied = await conn.fetchval("SELECT count(*) FROM plain_events")
        finally:
            await conn.close()
    rate, copy_rate = statistics.median(ours), statistics.median(plain)
    return Metric(
        name="archive_vs_copy",
        value=rate,
        unit="records/s",
        reference=copy_rate,
        reference_label="copy_records_to_table of the same rows into a plain table, records/s",
        goal=Goal("ratio", ">=", 0.5),
        details={
            "records_per_round": count,
            "rounds": ROUNDS,
            "batch": BATCH,
            "archive_runs": [round(r) for r in ours],
            "copy_runs": [round(r) for r in plain],
            "rows_archived": archived,
            "rows_copied": copied,
            "ours_includes": "decode of every record (the consumer's batch path)",
        },
    )


def run(profile: Profile, wanted: set[str]) -> list[Metric]:
    return [asyncio.run(_run(profile))] if "archive_vs_copy" in wanted else []
