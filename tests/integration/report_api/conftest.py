"""Fixtures of the report-api integration tests: a fresh database and topic per test module, the
projection fed through the real broker, and an httpx client on the app (its lifespan run).

No `__init__.py` here on purpose: it would make this directory a package named `report_api` and
shadow the service's own package; the test modules have unique names instead."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from report_api.api.app import create_app
from report_api.config import ApiSettings
from report_api.projection.runner import ProjectionRunner
from report_api.testing import create_database, create_topic, produce
from sla_core.events import SlaEvent
from sla_devtools.infra import Infra

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Stream:
    """A topic and the database it is projected into."""

    bootstrap_servers: str
    topic: str
    database_url: str

    def settings(self, **overrides: Any) -> ApiSettings:
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": self.bootstrap_servers,
            "events_topic": self.topic,
            "database_url": self.database_url,
            "api_tokens": TOKEN,
            "projection_enabled": False,
            "archive_enabled": False,
            "kafka_session_timeout_ms": 3000,
            **overrides,
        }
        return ApiSettings(**values)

    async def feed(self, events: Iterable[SlaEvent | bytes]) -> int:
        """Produce `events` to the topic, then project the topic up to its end."""
        await produce(self.bootstrap_servers, self.topic, events)
        return await self.catch_up()

    async def catch_up(self) -> int:
        runner = ProjectionRunner(
            bootstrap_servers=self.bootstrap_servers,
            topic=self.topic,
            database_url=self.database_url,
            group_id=None,
        )
        return await runner.catch_up()


@pytest.fixture(scope="module")
async def stream(infra: Infra) -> Stream:
    name = uuid.uuid4().hex[:12]
    url = await create_database(infra.database_url, f"report_{name}")
    topic = f"sla.events.{name}"
    await create_topic(infra.bootstrap_servers, topic, partitions=3)
    return Stream(infra.bootstrap_servers, topic, url)


async def open_client(settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://report-api", headers=AUTH
        ) as client,
    ):
        yield client


@pytest.fixture(scope="module")
async def client(stream: Stream) -> AsyncIterator[httpx.AsyncClient]:
    async for c in open_client(stream.settings()):
        yield c
