"""What the API needs at run time, built from the settings in one place and started/stopped by
the app's lifespan: the database pool, the projection consumer, the ticket event archive, the
token check, the cursor key and the calendars of running timers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import asyncpg

from report_api import db
from report_api.archive.consumer import ArchiveRunner
from report_api.auth import TokenCheck
from report_api.business_time import SecondsLeft, from_policy_file
from report_api.config import ApiSettings
from report_api.cursor import CursorCodec, secret_from
from report_api.metrics import Metrics
from report_api.projection.runner import ProjectionRunner
from report_api.whatif.jobs import WhatIfJobs

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: ApiSettings
    metrics: Metrics
    tokens: TokenCheck
    cursors: CursorCodec
    seconds_left: SecondsLeft
    runner: ProjectionRunner | None
    archive: ArchiveRunner | None = None
    whatif: WhatIfJobs | None = None
    _pool: asyncpg.Pool | None = None
    _tasks: dict[str, tuple[ProjectionRunner, asyncio.Task[None]]] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def from_settings(cls, settings: ApiSettings, metrics: Metrics) -> Services:
        """Check and wire everything; connects to nothing (that happens in `start`)."""
        settings.check_startable()
        runner = None
        if settings.projection_enabled:
            runner = ProjectionRunner(
                bootstrap_servers=settings.kafka_bootstrap_servers,
                topic=settings.events_topic,
                database_url=settings.database_url,
                schema=settings.database_schema,
                group_id=settings.projection_group_id,
                max_records=settings.projection_max_records,
                statement_timeout_ms=settings.projection_statement_timeout_ms,
                metrics=metrics,
                session_timeout_ms=settings.kafka_session_timeout_ms,
            )
        archive = None
        if settings.archive_enabled:
            archive = ArchiveRunner(
                bootstrap_servers=settings.kafka_bootstrap_servers,
                topic=settings.ticket_topic,
                database_url=settings.database_url,
                schema=settings.archive_schema,
                group_id=settings.archive_group_id,
                max_records=settings.archive_max_records,
                statement_timeout_ms=settings.projection_statement_timeout_ms,
                metrics=metrics,
                session_timeout_ms=settings.kafka_session_timeout_ms,
            )
        return cls(
            settings=settings,
            metrics=metrics,
            tokens=TokenCheck(settings.grants(), open=settings.api_open),
            cursors=CursorCodec(
                secret_from(settings.cursor_secret.get_secret_value(), settings.tokens())
            ),
            seconds_left=from_policy_file(settings.policy_file),
            runner=runner,
            archive=archive,
            whatif=WhatIfJobs(
                topic=settings.ticket_topic,
                archive_schema=settings.archive_schema,
                processes=settings.whatif_processes,
            ),
        )

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("services are not started")
        return self._pool

    async def start(self) -> None:
        s = self.settings
        self._pool = await db.create_pool(
            s.database_url,
            schema=s.database_schema,
            statement_timeout_ms=s.statement_timeout_ms,
            min_size=s.pool_min_size,
            max_size=s.pool_max_size,
        )
        for runner in (self.runner, self.archive):
            if runner is not None:
                task = asyncio.create_task(runner.run(), name=runner.name)
                self._tasks[runner.name] = (runner, task)

    async def stop(self) -> None:
        if self.whatif is not None:
            await self.whatif.stop()  # each job still running is marked failed (interrupted)
        for runner, _ in self._tasks.values():
            runner.stop()
        for _, task in self._tasks.values():
            try:
                await asyncio.wait_for(asyncio.shield(task), 10)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks.clear()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def _state(self, runner: ProjectionRunner | None) -> str:
        if runner is None:
            return "disabled"
        started = self._tasks.get(runner.name)
        alive = started is not None and not started[1].done()
        return "running" if alive and runner.ready else "starting"

    @property
    def projection_state(self) -> str:
        """running (consuming with its partitions), starting, or disabled."""
        return self._state(self.runner)

    @property
    def archive_state(self) -> str:
        """The archive consumer's: running, starting, or disabled."""
        return self._state(self.archive)
