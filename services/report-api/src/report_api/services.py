"""What the API needs at run time, built from the settings in one place and started/stopped by
the app's lifespan: the database pool, the projection consumer, the token check, the cursor key
and the calendars of running timers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import asyncpg

from report_api import db
from report_api.auth import TokenCheck
from report_api.business_time import SecondsLeft, from_policy_file
from report_api.config import ApiSettings
from report_api.cursor import CursorCodec, secret_from
from report_api.metrics import Metrics
from report_api.projection.runner import ProjectionRunner

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: ApiSettings
    metrics: Metrics
    tokens: TokenCheck
    cursors: CursorCodec
    seconds_left: SecondsLeft
    runner: ProjectionRunner | None
    _pool: asyncpg.Pool | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

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
        return cls(
            settings=settings,
            metrics=metrics,
            tokens=TokenCheck(settings.grants(), open=settings.api_open),
            cursors=CursorCodec(
                secret_from(settings.cursor_secret.get_secret_value(), settings.tokens())
            ),
            seconds_left=from_policy_file(settings.policy_file),
            runner=runner,
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
        if self.runner is not None:
            self._task = asyncio.create_task(self.runner.run(), name="projection")

    async def stop(self) -> None:
        if self.runner is not None and self._task is not None:
            self.runner.stop()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 10)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def projection_state(self) -> str:
        """running (consuming with its partitions), starting, or disabled."""
        if self.runner is None:
            return "disabled"
        alive = self._task is not None and not self._task.done()
        return "running" if alive and self.runner.ready else "starting"
