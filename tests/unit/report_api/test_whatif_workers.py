"""The replay's worker processes give what one in-process replay gives: each partition goes to
one worker in order, and their rows together are the candidate's timers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from report_api.whatif.replay import Replay
from report_api.whatif.workers import WorkerError, Workers, candidate_rows
from sla_core.policy import parse_policy
from tests.unit.report_api.test_whatif_replay import GRACE_US, partition_of, record
from tests.unit.test_golden import POLICY_TEXT, WALL, stream


async def test_workers_give_the_rows_of_one_replay() -> None:
    events = stream(3)
    now = events[-1].time + timedelta(days=3)
    records = [record(partition_of(e.ticket_id, 3), e) for e in events]
    alone = Replay(parse_policy(POLICY_TEXT), wall_clock=WALL)
    alone.feed(records)
    want = sorted(candidate_rows(list(alone.finish(now, GRACE_US).values())))
    async with Workers(2, POLICY_TEXT, WALL) as workers:
        for i in range(0, len(records), 97):
            await workers.feed(records[i : i + 97])
        rows, skipped = await workers.finish(now)
        assert workers.events_done == len(records)
    assert skipped == 0
    assert sorted(rows) == want


async def test_a_worker_that_fails_fails_the_replay() -> None:
    with pytest.raises(WorkerError, match="PolicyError"):
        async with Workers(1, "levels: [", WALL) as workers:
            await workers.finish(WALL)
