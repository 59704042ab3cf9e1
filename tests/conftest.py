"""Shared fixtures. Infrastructure is real: a session starts its own PostgreSQL and broker on free
ports in a temporary directory (the same `Infra` class as `make infra-up`), once, on first use."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from sla_devtools.infra import Infra, free_port

REPO = Path(__file__).resolve().parent.parent

# Property tests draw new examples on every local run; CI (`.ci/run` sets HYPOTHESIS_PROFILE=ci)
# draws the same ones every time, so a gate never fails on a draw no one has seen locally.
settings.register_profile("ci", derandomize=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    run_dir = Path(tempfile.mkdtemp(prefix="sla-test-"))
    infra = Infra(run_dir=run_dir, pg_port=free_port(), kafka_port=free_port())
    infra.run_dir.mkdir(parents=True, exist_ok=True)
    infra.broker_up()
    infra.postgres_up(extra_settings={"fsync": "off", "synchronous_commit": "off"})
    try:
        yield infra
    finally:
        infra.down()
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
def unique() -> str:
    """A short unique suffix: tests use unique topic, group and ticket names, never clean up."""
    return uuid.uuid4().hex[:10]
