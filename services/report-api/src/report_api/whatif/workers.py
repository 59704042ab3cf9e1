"""The replay's worker processes: each runs `replay.Replay` for its share of the partitions, so
that a what-if uses every core it is given and never holds the API's interpreter.

A partition's records always go to the same worker (partition modulo the number of workers), in
the order they are handed over, so each partition is replayed as the engine consumed it; tickets
never span partitions, so the workers' timer rows are disjoint. Each worker has at most one
chunk in flight: handing over the next waits for it, which bounds the memory and makes the
number of records acknowledged the job's progress.

Workers are started with `spawn` (a fork of a process with an event loop and threads is not
safe). In a worker the cyclic collector freezes what each chunk leaves alive: the replay's state
is millions of long-lived objects without cycles, which collections would otherwise walk again
and again (a quarter of the replay's time; see sla_engine/collector.py for the same reasoning).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
from collections.abc import Sequence
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from report_api.archive.read import ArchivedRecord
from report_api.projection.handlers import TimerRow
from report_api.whatif.replay import Replay
from sla_core.policy import parse_policy

# The columns of a candidate timer that the comparison needs (a worker sends only these back).
CANDIDATE_COLUMNS = (
    "timer_id",
    "ticket_id",
    "metric",
    "cycle",
    "level",
    "started_at",
    "due_at",
    "state",
    "elapsed_seconds",
    "department",
    "agent",
    "team",
    "breach_agent",
    "breach_team",
)
_PICK = tuple(TimerRow._fields.index(c) for c in CANDIDATE_COLUMNS)
CandidateRow = tuple[Any, ...]


def candidate_rows(rows: Sequence[TimerRow]) -> list[CandidateRow]:
    """The CANDIDATE_COLUMNS of each row."""
    return [tuple(row[i] for i in _PICK) for row in rows]


def _work(
    conn: Connection, policy_text: str, wall_clock: datetime, older: Sequence[str] = ()
) -> None:
    """A worker's loop: ("feed", records) -> records done; ("finish", now) -> (rows, skipped);
    ("stop", None) ends it. An error is sent back as ("error", text) and ends it."""
    try:
        replay = Replay(
            parse_policy(policy_text, source="policy"),
            wall_clock=wall_clock,
            older=tuple(parse_policy(text, source="policy") for text in older),
        )
        while True:
            kind, payload = conn.recv()
            if kind == "feed":
                replay.feed(payload)
                gc.freeze()
                conn.send(("ok", replay.events_done))
            elif kind == "finish":
                rows = candidate_rows(list(replay.finish(payload).values()))
                conn.send(("ok", (rows, replay.skipped)))
            else:
                return
    except Exception as exc:  # reported to the job, which fails with it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class WorkerError(RuntimeError):
    """A worker failed; the message is its error."""


class Workers:
    """`count` worker processes replaying under one policy; use as an async context manager."""

    def __init__(
        self, count: int, policy_text: str, wall_clock: datetime, *, older: Sequence[str] = ()
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._conns: list[Connection] = []
        self._child_ends: list[Connection] = []
        self._procs: list[Any] = []
        for n in range(count):
            parent, child = context.Pipe()
            proc = context.Process(
                target=_work,
                args=(child, policy_text, wall_clock, tuple(older)),
                name=f"what-if-replay-{n}",
                daemon=True,
            )
            self._conns.append(parent)
            self._child_ends.append(child)
            self._procs.append(proc)
        self._in_flight = [False] * count
        self._done = [0] * count

    async def __aenter__(self) -> Workers:
        await asyncio.to_thread(self._start)
        return self

    def _start(self) -> None:
        for proc in self._procs:
            proc.start()
        for child in self._child_ends:
            child.close()  # the workers hold them now

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self._stop)

    def _stop(self) -> None:
        for conn in self._conns:
            with contextlib.suppress(OSError, EOFError, BrokenPipeError):
                conn.send(("stop", None))
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for conn in self._conns:
            conn.close()

    @property
    def events_done(self) -> int:
        """Records the workers have replayed (acknowledged)."""
        return sum(self._done)

    def _answer(self, n: int) -> Any:
        try:
            kind, payload = self._conns[n].recv()
        except EOFError:
            code = self._procs[n].exitcode
            raise WorkerError(f"replay worker {n} died (exit code {code})") from None
        if kind == "error":
            raise WorkerError(payload)
        return payload

    def _feed(self, share: list[list[ArchivedRecord]]) -> None:
        for n, records in enumerate(share):
            if not records:
                continue
            if self._in_flight[n]:
                self._done[n] = self._answer(n)
            self._conns[n].send(("feed", records))
            self._in_flight[n] = True

    async def feed(self, records: Sequence[ArchivedRecord]) -> None:
        """Hand `records` (in the engine's order) to the workers of their partitions; waits
        only for a worker's previous chunk."""
        share: list[list[ArchivedRecord]] = [[] for _ in self._conns]
        count = len(self._conns)
        for record in records:
            share[record[0] % count].append(record)
        await asyncio.to_thread(self._feed, share)

    def _finish(self, now: datetime) -> tuple[list[CandidateRow], int]:
        rows: list[CandidateRow] = []
        skipped = 0
        for n, conn in enumerate(self._conns):
            if self._in_flight[n]:
                self._done[n] = self._answer(n)
                self._in_flight[n] = False
            conn.send(("finish", now))
        for n in range(len(self._conns)):
            part, part_skipped = self._answer(n)
            rows.extend(part)
            skipped += part_skipped
        return rows, skipped

    async def finish(self, now: datetime) -> tuple[list[CandidateRow], int]:
        """Every worker's candidate rows (CANDIDATE_COLUMNS) and records skipped, once each has
        moved its watermarks to `now` less the grace."""
        return await asyncio.to_thread(self._finish, now)
