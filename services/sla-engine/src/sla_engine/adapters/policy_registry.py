"""The policy registry in PostgreSQL: every policy version the engine loads, kept with its text.

A row per version (`ON CONFLICT DO NOTHING`: the first load wins, with its time and file), for
`GET /v1/policies` and for a what-if that asks which policy was in force. Writing is off the
engine's path: `offer` is synchronous and cheap, a background task writes what is pending, and a
failure is logged and tried again on a later loop turn. The engine never waits for, or stops on,
its registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable

import asyncpg

from sla_core.policy import Policy
from sla_edge.database_url import plain_url

log = logging.getLogger(__name__)

# Identical to report-api's migration 0003_history (a unit test holds them together), which
# creates the table when the API runs before the engine ever did.
TABLE = """
CREATE TABLE IF NOT EXISTS {schema}policy_versions (
    version         text PRIMARY KEY,
    content         text NOT NULL,
    content_sha256  text NOT NULL,
    first_loaded_at timestamptz NOT NULL DEFAULT now(),
    source          text NOT NULL
)"""
_INSERT = (
    "INSERT INTO policy_versions (version, content, content_sha256, source) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) "
    "ON CONFLICT (version) DO NOTHING"
)


def content_sha256(policy: Policy) -> str:
    """The hex SHA-256 of the policy's text as loaded (the version hashes its parsed content)."""
    return hashlib.sha256(policy.text.encode()).hexdigest()


class PolicyRegistry:
    """Records policy versions in the `policy_versions` table of the database at `dsn`."""

    def __init__(
        self,
        dsn: str,
        *,
        retry_delay_s: float = 5.0,
        timeout_s: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dsn = plain_url(dsn)
        self._retry_delay_s = retry_delay_s
        self._timeout_s = timeout_s
        self._monotonic = monotonic
        self._pending: dict[str, Policy] = {}
        self.recorded: set[str] = set()  # versions known to be in the table
        self._task: asyncio.Task[None] | None = None
        self._not_before = 0.0

    def offer(self, policy: Policy) -> None:
        """Have `policy` recorded unless it is already; never blocks and never raises."""
        if policy.version not in self.recorded:
            self._pending.setdefault(policy.version, policy)
        if not self._pending or (self._task is not None and not self._task.done()):
            return
        if self._monotonic() < self._not_before:
            return
        self._task = asyncio.get_running_loop().create_task(
            self._write(list(self._pending.values())), name="policy-registry"
        )

    async def _write(self, policies: list[Policy]) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                conn = await asyncpg.connect(self._dsn)
                try:
                    await conn.execute(TABLE.format(schema=""))
                    await conn.execute(
                        _INSERT,
                        [p.version for p in policies],
                        [p.text for p in policies],
                        [content_sha256(p) for p in policies],
                        [p.source for p in policies],
                    )
                finally:
                    await conn.close()
        except Exception as exc:  # any failure: the engine goes on, a later turn retries
            self._not_before = self._monotonic() + self._retry_delay_s
            log.warning(
                "policy registry not written; retrying later: %s",
                exc,
                extra={"policy_versions": [p.version for p in policies]},
            )
            return
        for policy in policies:
            self.recorded.add(policy.version)
            self._pending.pop(policy.version, None)
        log.info("policy versions recorded", extra={"policy_versions": sorted(self.recorded)})

    async def close(self) -> None:
        """Let a write in flight finish (within its timeout), then stop."""
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, self._timeout_s + 1)
