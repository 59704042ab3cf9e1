"""The policy registry, read: the versions the engine has loaded, and one version's YAML.

The table is the engine's (`policy_versions` in SLA_ENGINE_SCHEMA). The migration creates it when
missing, but a rebuild or a fresh schema may still leave the API without it: a missing table
reads as an empty registry, never as an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import asyncpg

from report_api.db import quote_identifier
from sla_core.instants import from_us
from sla_core.policy import PolicyError, parse_policy


@dataclass(frozen=True)
class PolicyVersion:
    version: str
    first_loaded_at: datetime
    source: str
    sha256: str
    effective_from: datetime | None  # None: from the start (or the text no longer parses)
    retarget_open: bool


@lru_cache(maxsize=256)
def _dates(content: str) -> tuple[datetime | None, bool]:
    """`policy.effective_from` and `retarget_open` as the engine read them (a version's content
    never changes, so each is parsed once)."""
    try:
        policy = parse_policy(content, source="registry")
    except PolicyError:
        return None, False  # recorded by an engine whose rules were looser than ours
    at = policy.effective_from_us
    return (None if at is None else from_us(at)), policy.retarget_open


async def policy_versions(conn: asyncpg.Connection, *, schema: str) -> list[PolicyVersion]:
    """Every recorded version, newest first (then by version, for a stable order)."""
    try:
        rows = await conn.fetch(
            "SELECT version, first_loaded_at, source, content_sha256, content "
            f"FROM {quote_identifier(schema)}.policy_versions "
            "ORDER BY first_loaded_at DESC, version"
        )
    except asyncpg.UndefinedTableError:
        return []
    return [PolicyVersion(r[0], r[1], r[2], r[3], *_dates(r[4])) for r in rows]


async def policy_content(conn: asyncpg.Connection, *, schema: str, version: str) -> str | None:
    """The YAML of `version` as the engine loaded it, or None when it is not recorded."""
    try:
        content: str | None = await conn.fetchval(
            f"SELECT content FROM {quote_identifier(schema)}.policy_versions WHERE version = $1",
            version,
        )
    except asyncpg.UndefinedTableError:
        return None
    return content
