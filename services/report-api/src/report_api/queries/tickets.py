"""One ticket's timers, now."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from report_api.business_time import SecondsLeft
from report_api.queries.sql import local_iso, timer_local_iso


async def ticket_timers(
    conn: asyncpg.Connection,
    *,
    ticket_id: str,
    now: datetime,
    seconds_left: SecondsLeft,
    zone: ZoneInfo,
) -> list[dict[str, Any]] | None:
    """The ticket's timers in start order (times in `zone`, `due_local` in the timer's own), or
    None when it is unknown or deleted."""
    records = await conn.fetch(
        "SELECT * FROM sla_timers WHERE ticket_id = $1 ORDER BY started_at, timer_id", ticket_id
    )
    if not records:
        return None
    held = await timer_segments(conn, timer_ids=[r["timer_id"] for r in records], zone=zone)
    timers = []
    for r in records:
        sla = seconds_left.of_timer(
            static=r["sla_static"],
            remaining_seconds=r["remaining_seconds"],
            calendar=r["calendar"],
            due_at=r["due_at"],
            now=now,
            timezone=r["timezone"],
        )
        timers.append(
            {
                "timer_id": r["timer_id"],
                "metric": r["metric"],
                "cycle": r["cycle"],
                "level": r["level"],
                "calendar": r["calendar"],
                "state": r["state"],
                "paused": r["paused"],
                "breached": r["breached"],
                "corrected": r["corrected"],
                "target_seconds": r["target_seconds"],
                "started_at": local_iso(r["started_at"], zone),
                "due_at": local_iso(r["due_at"], zone),
                "stopped_at": local_iso(r["stopped_at"], zone),
                "elapsed_seconds": r["elapsed_seconds"],
                "sla_seconds": sla,
                "department": r["department"],
                "agent": r["agent"],
                "requester": r["requester"],
                "timezone": r["timezone"],
                "timezone_source": r["timezone_source"],
                "due_local": timer_local_iso(r["due_at"], r["timezone"]),
                "cancel_reason": r["cancel_reason"],
                "team": r["team"],
                "breach_agent": r["breach_agent"],
                "breach_team": r["breach_team"],
                "segments": held.get(r["timer_id"], []),
            }
        )
    return timers


async def timer_segments(
    conn: asyncpg.Connection, *, timer_ids: list[str], zone: ZoneInfo
) -> dict[str, list[dict[str, Any]]]:
    """The ownership segments of the timers, by timer id, in order (times in `zone`); the SLA
    log and the ticket view both show them."""
    records = await conn.fetch(
        "SELECT timer_id, agent, team, started_at, ended_at, business_seconds FROM sla_segments "
        "WHERE timer_id = ANY($1::text[]) ORDER BY timer_id, n",
        timer_ids,
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        found.setdefault(r["timer_id"], []).append(
            {
                "agent": r["agent"],
                "team": r["team"],
                "started_at": local_iso(r["started_at"], zone),
                "ended_at": local_iso(r["ended_at"], zone),
                "business_seconds": r["business_seconds"],
            }
        )
    return found
