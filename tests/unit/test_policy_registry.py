"""The engine's policy registry without a database: what it keeps of a policy, the one DDL the
engine and report-api share, and that a registry it cannot reach never stops the engine."""

from __future__ import annotations

import asyncio
import importlib
import logging
from pathlib import Path

import pytest

from sla_core.policy import load_policy, parse_policy
from sla_engine.adapters.policy_registry import TABLE, PolicyRegistry, content_sha256
from sla_engine.metrics import EngineMetrics
from sla_engine.policy_reload import PolicyFile

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy/policy.minimal.yaml"


def test_a_policy_keeps_its_text_which_is_not_its_identity() -> None:
    text = EXAMPLE.read_text()
    policy = load_policy(EXAMPLE)
    assert policy.text == text
    commented = parse_policy(
        "# a comment changes the text, not the version\n" + text, source=str(EXAMPLE)
    )
    assert commented.version == policy.version
    assert commented == policy
    assert content_sha256(commented) != content_sha256(policy)
    assert "text" not in repr(policy)


def test_report_api_creates_the_engine_table_with_the_same_ddl() -> None:
    migration = importlib.import_module("report_api.migrations.versions.0003_history")
    assert migration.POLICY_VERSIONS == TABLE


class Offers:
    def __init__(self) -> None:
        self.offered: list[str] = []

    def offer(self, policy: object) -> None:
        self.offered.append(getattr(policy, "version", ""))

    async def close(self) -> None:
        pass


def test_the_policy_file_offers_the_policy_in_force_on_every_check(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(EXAMPLE.read_text())
    registry = Offers()
    policy_file = PolicyFile(path, EngineMetrics(), registry)
    first = policy_file.policy.version
    assert policy_file.reload() is None
    path.write_text(EXAMPLE.read_text().replace("resolution: 48h", "resolution: 24h"))
    changed = policy_file.reload(force=True)
    assert changed is not None and changed.version != first
    assert registry.offered == [first, first, changed.version]


async def test_an_unreachable_registry_is_logged_and_retried_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    registry = PolicyRegistry(
        "postgresql://nobody@127.0.0.1:1/none",
        retry_delay_s=5,
        timeout_s=5,
        monotonic=lambda: now[0],
    )
    policy = load_policy(EXAMPLE)
    with caplog.at_level(logging.WARNING):
        registry.offer(policy)  # returns at once; the write runs in the background
        await asyncio.sleep(0)
        await registry.close()
    assert "policy registry not written" in caplog.text
    assert registry.recorded == set()
    attempts = len(caplog.records)
    registry.offer(policy)  # within the delay: no new attempt
    await registry.close()
    assert len(caplog.records) == attempts
    now[0] = 6.0
    registry.offer(policy)
    await registry.close()
    assert len(caplog.records) == attempts + 1
