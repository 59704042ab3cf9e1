"""A fuzzed corpus of malformed ticket records among valid ones: every bad record reaches the
dead-letter topic unchanged with its reason, and the valid ones give exactly the SLA events of a
run without the corpus, at a comparable pace."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from sla_core.codec import MAX_EVENT_BYTES
from sla_devtools.infra import Infra
from tests.reliability.support.fuzz import corpus
from tests.reliability.support.harness import Ledger, Processes, Topics
from tests.reliability.support.logs import LogReader
from tests.reliability.support.procs import ServiceProcess
from tests.reliability.support.runs import PARTITIONS, backlog_run, compare
from tests.reliability.support.workload import Record, ticket_stream


def metric_value(metrics_text: str, name: str) -> float:
    for line in metrics_text.splitlines():
        if line.startswith(name + " "):
            return float(line.split(" ", 1)[1])
    raise AssertionError(f"no {name} in /metrics")


def dead_letter_counts(metrics_text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in metrics_text.splitlines():
        if line.startswith("sla_engine_dead_letters_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            counts[reason] += int(float(line.rsplit(" ", 1)[1]))
    return counts


@pytest.mark.parametrize(
    ("seed", "tickets", "bad"),
    [
        pytest.param(11, 250, 1000, id="quick"),
        pytest.param(12, 800, 5000, id="full", marks=pytest.mark.slow),
    ],
)
async def test_every_malformed_record_is_dead_lettered_with_its_reason_and_nothing_valid_is_lost(
    infra: Infra,
    processes: Processes,
    policy_path: Path,
    ledger: Ledger,
    unique: str,
    seed: int,
    tickets: int,
    bad: int,
) -> None:
    prefix = f"f{unique}"
    valid = ticket_stream(seed, tickets, PARTITIONS, prefix)
    malformed = corpus(seed, bad, f"{prefix}-bad")
    rng = random.Random(seed)
    mixed = list(valid[:-PARTITIONS])  # the sentinels stay last on their partitions
    for record in malformed:
        mixed.insert(
            rng.randint(0, len(mixed)),
            Record(rng.randrange(PARTITIONS), record.key, record.value, tuple(record.headers)),
        )
    mixed.extend(valid[-PARTITIONS:])

    counted: Counter[str] = Counter()
    busy: dict[str, float] = {}

    def inspect(run: str) -> Callable[[ServiceProcess], Awaitable[None]]:
        async def read_metrics(engine: ServiceProcess) -> None:
            async with httpx.AsyncClient() as client:
                text = (await client.get(engine.url + "/metrics")).text
            busy[run] = metric_value(text, "sla_engine_processing_seconds_sum")
            if run == "mixed":
                counted.update(dead_letter_counts(text))

        return read_metrics

    topics = Topics.named(unique)
    async with LogReader(infra.bootstrap_servers, topics.dlq) as dlq:
        # side by side, so that both see the same machine (other work shares its cores)
        (expected, _), (actual, _) = await asyncio.gather(
            backlog_run(
                infra, processes, policy_path, f"{unique}-ref", valid, prefix, inspect("clean")
            ),
            backlog_run(infra, processes, policy_path, unique, mixed, prefix, inspect("mixed")),
        )
        keys = {r.key for r in malformed}
        await dlq.until(lambda r: keys <= {rec.key for rec in r.records}, 60, "every dead letter")
        await dlq.settle(quiet=1.0)
    ledger.fault("malformed record", len(malformed))
    ledger.events_checked += len(mixed)

    by_key = {}
    for rec in dlq.records:
        assert rec.key not in by_key, f"dead-lettered twice: {rec.key!r}"
        by_key[rec.key] = rec
    assert set(by_key) == keys  # every bad record, and nothing valid
    wrong = []
    for record in malformed:
        letter = by_key[record.key]
        headers = dict(letter.headers)
        reason = headers["__connect.errors.reason"].decode()
        if reason not in record.reasons:
            wrong.append((record.category, reason, (record.value or b"")[:80]))
        if record.value is not None and len(record.value) > MAX_EVENT_BYTES:
            # too large to produce whole: its head, and its size in a header
            assert letter.value == record.value[:MAX_EVENT_BYTES]
            assert headers["__connect.errors.value.truncated"] == str(len(record.value)).encode()
        else:
            assert letter.value == record.value  # unchanged
        assert headers["__connect.errors.topic"] == topics.tickets.encode()
        assert int(headers["__connect.errors.offset"]) >= 0
        assert headers["__connect.errors.exception.message"]
        for name, value in record.headers:
            assert headers[name] == value  # the original headers travel with it
    ledger.mismatches += len(wrong)
    assert wrong == []
    reasons = Counter(dict(r.headers)["__connect.errors.reason"].decode() for r in dlq.records)
    assert counted == reasons  # counted by reason, as dead-lettered

    compare(expected, actual, ledger)  # the valid events around them: nothing lost or changed
    # what the bad records cost the loop: the engine's busy time (sla_engine_processing_seconds)
    # beyond the clean run's, per bad record. A bad record that blocked its partition (a retry,
    # a sleep, a stuck send) would cost seconds; handling one costs about 0.1-0.2 ms here. (A
    # ratio of the two runs' rates was tried first: the clean run is busy for only some 40 ms,
    # and that ratio ranged 2.3-6.8 between runs of the same code.)
    clean_rate, mixed_rate = len(valid) / busy["clean"], len(valid) / busy["mixed"]
    per_bad_ms = (busy["mixed"] - busy["clean"]) / len(malformed) * 1000
    print(
        f"valid events/s: {clean_rate:.0f} alone, {mixed_rate:.0f} among {len(malformed)} bad;"
        f" {per_bad_ms:.3f} ms of busy time per bad record"
    )
    assert per_bad_ms < 1.0, (busy, per_bad_ms)
