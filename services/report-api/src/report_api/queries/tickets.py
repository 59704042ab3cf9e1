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
            }
        )
    return timers
