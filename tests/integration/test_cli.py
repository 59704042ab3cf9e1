"""The `sla` command line against the real broker: publish a file, read it back; tail breaches."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from sla_devtools.infra import Infra
from tests.support.kafka import TopicReader, create_topics

REPO = Path(__file__).resolve().parents[2]


async def sla(*args: str) -> tuple[int, str, str]:
    """Run the CLI as a person does (its own process); returns (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sla_devtools.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def ticket_event(event_id: str, ticket_id: str, type_: str, **data: Any) -> str:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": "helpdesk://cli-test",
            "type": type_,
            "time": "2026-11-20T16:00:00+01:00",
            "subject": ticket_id,
            "data": data,
        }
    )


async def test_publish_checks_the_file_then_publishes_keyed_by_ticket(
    infra: Infra, unique: str, tmp_path: Path
) -> None:
    topic = f"tickets-{unique}"
    await create_topics(infra.bootstrap_servers, topic)
    lines = [
        ticket_event("e1", f"A-{unique}", "ticket.created", ticket={"source": "email"}),
        ticket_event("e2", f"B-{unique}", "ticket.created", ticket={"source": "chat"}),
        ticket_event("e3", f"A-{unique}", "ticket.answered", channel="email"),
    ]
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(lines) + "\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(lines[0] + "\n" + ticket_event("e9", "", "ticket.closed") + "\n")

    code, _, err = await sla(
        "publish", str(bad), "--bootstrap", infra.bootstrap_servers, "--topic", topic
    )
    assert code == 1
    assert "line 2: subject: '' should be non-empty" in err
    code, out, err = await sla(
        "publish", str(good), "--bootstrap", infra.bootstrap_servers, "--topic", topic
    )
    assert code == 0, err
    assert f"published 3 events of 2 tickets to {topic}" in out

    async with TopicReader(infra.bootstrap_servers, topic) as reader:
        await reader.wait_for(lambda seen: len(seen) >= 3, within=15)
        for records in (await reader.consumer.getmany(timeout_ms=1000)).values():
            reader.records.extend(records)  # anything of the refused file would show up here
        events = reader.events
    assert sorted(e["id"] for e in events) == ["e1", "e2", "e3"]  # the bad file sent nothing
    keys = {r.value: r.key.decode() for r in reader.records}
    assert all(keys[line.encode()] == json.loads(line)["subject"] for line in lines)
    assert {dict(r.headers)["content-type"] for r in reader.records} == {
        b"application/cloudevents+json"
    }


async def test_tail_prints_a_row_per_warning_and_breach(infra: Infra, unique: str) -> None:
    topic = f"breaches-{unique}"
    await create_topics(infra.bootstrap_servers, topic, partitions=1)
    breach = json.loads((REPO / "schemas" / "examples" / "sla.breached.json").read_text())
    breach["data"].update(ticket_id=f"T-{unique}", agent="ola", remaining_seconds=-65)
    warning = json.loads(json.dumps(breach))
    warning["type"] = "sla.warning"
    warning["data"].update(remaining_seconds=30, threshold="50%", breached=False)
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for event in (warning, breach):
            await producer.send_and_wait(
                topic, json.dumps(event).encode(), key=f"T-{unique}".encode()
            )
    finally:
        await producer.stop()

    code, out, err = await sla(
        "tail",
        "--bootstrap",
        infra.bootstrap_servers,
        "--topic",
        topic,
        "--from-beginning",
        "--limit",
        "2",
    )
    assert code == 0, err
    head, first, second = out.splitlines()
    assert head.split()[:4] == ["TIME", "TYPE", "TICKET", "METRIC"]
    assert first.split()[2:8] == [
        "warning",
        f"T-{unique}",
        "first_answer",
        "standard",
        "support",
        "ola",
    ]
    assert first.endswith("30s left")
    assert second.split()[2] == "breached"
    assert second.endswith("1m 05s")
