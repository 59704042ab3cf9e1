"""The services' shared edge (`sla_edge`): database URLs, retry with backoff, JSON logs."""

from __future__ import annotations

import asyncio
import io
import logging

import orjson
import pytest
from pydantic import ValidationError

from report_api.config import ApiSettings
from sla_edge import logs
from sla_edge.database_url import plain_url, sqlalchemy_url
from sla_edge.retry import retry
from sla_engine.config import EngineSettings

FORMS = [
    "postgresql://u:p@db:5432/sla",
    "postgres://u:p@db:5432/sla",
    "postgresql+asyncpg://u:p@db:5432/sla",
]


@pytest.mark.parametrize("url", FORMS)
def test_both_services_accept_every_url_form_through_one_parser(url: str) -> None:
    engine = EngineSettings(database_url=url)
    api = ApiSettings(database_url=url, api_tokens="a-real-token-1234")
    assert engine.database_url == api.database_url == "postgresql://u:p@db:5432/sla"
    assert sqlalchemy_url(url) == "postgresql+asyncpg://u:p@db:5432/sla"


@pytest.mark.parametrize("url", ["mysql://u@db/sla", "postgresql+psycopg://u@db/sla", "db:5432"])
def test_another_scheme_is_refused_naming_the_accepted_forms(url: str) -> None:
    with pytest.raises(ValueError, match=r"postgresql://, postgres:// or postgresql\+asyncpg://"):
        plain_url(url)
    with pytest.raises(ValidationError, match="database_url"):
        EngineSettings(database_url=url)


async def test_retry_backs_off_doubling_and_returns_the_result(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return "up"

    with caplog.at_level(logging.WARNING):
        assert await retry("db", flaky, on=ConnectionError, first_s=0.1) == "up"
    waits = [r.getMessage() for r in caplog.records]
    assert waits == [
        "db failed (down); retrying in 0.1s",
        "db failed (down); retrying in 0.2s",
    ]
    assert len(calls) == 3


async def test_retry_gives_up_after_its_attempts_or_when_stopped_and_passes_other_errors() -> None:
    async def down() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        await retry("db", down, on=ConnectionError, first_s=0.001, attempts=3)
    stop = asyncio.Event()
    stop.set()
    with pytest.raises(ConnectionError):
        await retry("db", down, on=ConnectionError, first_s=0.001, stop=stop)

    async def wrong() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        await retry("db", wrong, on=ConnectionError)


def test_log_lines_are_json_with_extras_and_exceptions() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    log = logging.getLogger("test_edge")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("batch", extra={"events": 12})
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    first, second = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "warning" and first["msg"] == "batch" and first["events"] == 12
    assert first["logger"] == "test_edge" and first["ts"].endswith("+00:00")
    assert second["level"] == "error" and "ValueError: bad" in second["exception"]
