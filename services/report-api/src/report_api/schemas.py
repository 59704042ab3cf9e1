"""Response models of the API: the OpenAPI document's shapes, with examples.

Routes serialise rows themselves (orjson, for speed); these models document the shapes and the
schemathesis test checks that responses conform to them.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

State = Literal["running", "breached", "fulfilled", "missed", "cancelled"]
ZoneSource = Literal["calendar", "ticket", "default"]
_TIMEZONE = "The zone the timer's calendar is read in, chosen when it started (SPEC 8); null for "
_TIMEZONE += "timers projected from events of engines that did not say."
_TIMEZONE_SOURCE = "Why that zone: calendar (the calendar's zone is fixed), ticket (the ticket's "
_TIMEZONE_SOURCE += "attribute named it) or default (the attribute was missing or not a zone)."
_DUE_LOCAL = "The due in the timer's own zone, RFC 3339 with its offset; null without a due or "
_DUE_LOCAL += "a zone."
_CANCEL_REASON = "Why a cancelled timer was cancelled (its sla.cancelled event's reason): reset "
_CANCEL_REASON += "(reset_when held; a new cycle started), cancel_condition (cancel_when held), "
_CANCEL_REASON += "closed (the ticket closed: a periodic update, or an answer under "
_CANCEL_REASON += "close_before_answer: cancel) or level_change (the new level has no such "
_CANCEL_REASON += "target). null in every other state, and for timers cancelled by engines that "
_CANCEL_REASON += "did not say."


class ComplianceFigures(BaseModel):
    """Fulfilled and missed SLAs of a group. Time figures are business seconds from start to
    stop over ENDED timers only; `missed` also counts running timers that are past due."""

    fulfilled: int = Field(ge=0)
    fulfilled_avg_seconds: float | None
    fulfilled_max_seconds: float | None
    fulfilled_min_seconds: float | None
    missed: int = Field(ge=0)
    missed_avg_seconds: float | None
    missed_max_seconds: float | None
    missed_min_seconds: float | None
    compliance_ratio: float | None = Field(
        description="fulfilled / (fulfilled + missed); null when both are 0.", ge=0, le=1
    )


class ComplianceRow(ComplianceFigures):
    """One group; only the keys named in group_by are present."""

    date: dt.date | None = Field(None, description="Local date of started_at in tz.")
    week: dt.date | None = Field(None, description="Monday of the local ISO week of started_at.")
    month: str | None = Field(None, description="Local month of started_at, YYYY-MM.")
    department: str | None = None
    agent: str | None = None
    level: str | None = None
    metric: str | None = None
    team: str | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "date": "2026-10-25",
                    "department": "support",
                    "fulfilled": 41,
                    "fulfilled_avg_seconds": 1830.5,
                    "fulfilled_max_seconds": 3540.0,
                    "fulfilled_min_seconds": 60.0,
                    "missed": 3,
                    "missed_avg_seconds": 5400.0,
                    "missed_max_seconds": 7200.0,
                    "missed_min_seconds": 3660.0,
                    "compliance_ratio": 0.9318,
                }
            ]
        }
    )


class ComplianceReport(BaseModel):
    from_: datetime = Field(alias="from", description="Start of the range (inclusive).")
    to: datetime = Field(description="End of the range (exclusive).")
    tz: str
    group_by: list[str]
    attribute: Literal["last", "at_breach"] = Field(
        description="Whose a breached or missed timer is: its last holder, or its holder at due."
    )
    rows: list[ComplianceRow]
    totals: ComplianceFigures

    model_config = ConfigDict(populate_by_name=True)


class OwnershipSegmentOut(BaseModel):
    """Who held the ticket for part of a timer (SPEC section 11)."""

    agent: str | None
    team: str | None
    started_at: datetime
    ended_at: datetime
    business_seconds: float = Field(description="Under the timer's calendar, pauses left out.")


class OwnershipRow(BaseModel):
    """One agent's or team's time in hands; only the key named in group_by is present."""

    agent: str | None = None
    team: str | None = None
    held_seconds: float = Field(ge=0, description="Business seconds held, pauses left out.")
    timers: int = Field(ge=0, description="Timers held for any part.")
    breaches: int = Field(ge=0, description="Timers that breached in these hands.")


class OwnershipReport(BaseModel):
    from_: datetime = Field(alias="from", description="Start of the range (inclusive).")
    to: datetime = Field(description="End of the range (exclusive).")
    tz: str
    group_by: Literal["agent", "team"]
    rows: list[OwnershipRow]

    model_config = ConfigDict(populate_by_name=True)


class LogRow(BaseModel):
    """One SLA timer. Times are RFC 3339 in the requested tz."""

    timer_id: str = Field(description="<ticket>:<metric>:<cycle>")
    requester: str | None
    ticket: str
    department: str | None
    agent: str | None
    level: str
    metric: str
    sla_started: datetime
    due_date: datetime | None = Field(description="null while the timer is paused.")
    closed: datetime | None = Field(description="When the timer stopped; null while running.")
    sla_seconds: int = Field(
        description="Business seconds left, negative once over due: at the stop for ended "
        "timers, at the pause for paused ones, else as of `as_of`. Rounded down."
    )
    state: State
    timezone: str | None = Field(description=_TIMEZONE)
    timezone_source: ZoneSource | None = Field(description=_TIMEZONE_SOURCE)
    due_local: datetime | None = Field(description=_DUE_LOCAL)
    cancel_reason: str | None = Field(description=_CANCEL_REASON)
    team: str | None = Field(None, description="The ticket's team as of the timer's last event.")
    breach_agent: str | None = Field(None, description="Breached or missed: the agent at due.")
    breach_team: str | None = Field(None, description="Breached or missed: the team at due.")
    segments: list[OwnershipSegmentOut] = Field(
        default_factory=list,
        description="Who held the ticket, in order, as of the timer's breach or end.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "timer_id": "T-1001:first_answer:1",
                    "requester": "kari@example.no",
                    "ticket": "T-1001",
                    "department": "support",
                    "agent": None,
                    "level": "standard",
                    "metric": "first_answer",
                    "sla_started": "2026-11-20T16:00:00+01:00",
                    "due_date": "2026-11-23T12:00:00+01:00",
                    "closed": None,
                    "sla_seconds": -120,
                    "state": "breached",
                    "timezone": "Europe/Oslo",
                    "timezone_source": "calendar",
                    "due_local": "2026-11-23T12:00:00+01:00",
                    "cancel_reason": None,
                },
                {
                    "timer_id": "T-1002:periodic_update:1",
                    "requester": "kari@example.no",
                    "ticket": "T-1002",
                    "department": "support",
                    "agent": "ana",
                    "level": "standard",
                    "metric": "periodic_update",
                    "sla_started": "2026-11-20T16:00:00+01:00",
                    "due_date": "2026-11-25T16:00:00+01:00",
                    "closed": "2026-11-23T10:00:00+01:00",
                    "sla_seconds": 79200,
                    "state": "cancelled",
                    "timezone": "Europe/Oslo",
                    "timezone_source": "calendar",
                    "due_local": "2026-11-25T16:00:00+01:00",
                    "cancel_reason": "closed",
                },
            ]
        }
    )


class LogPage(BaseModel):
    rows: list[LogRow]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last.")
    sort: str
    limit: int
    as_of: datetime = Field(description="The clock of running timers' figures on every page.")


class TicketTimer(BaseModel):
    timer_id: str
    metric: str
    cycle: int
    level: str
    calendar: str
    state: State
    paused: bool
    breached: bool = Field(description="Whether it ever went past due.")
    corrected: bool = Field(description="A breach corrected by a late event.")
    target_seconds: float
    started_at: datetime
    due_at: datetime | None
    stopped_at: datetime | None
    elapsed_seconds: float = Field(description="Business seconds as of its last event.")
    sla_seconds: int
    department: str | None
    agent: str | None
    requester: str | None
    timezone: str | None = Field(description=_TIMEZONE)
    timezone_source: ZoneSource | None = Field(description=_TIMEZONE_SOURCE)
    due_local: datetime | None = Field(description=_DUE_LOCAL)
    cancel_reason: str | None = Field(description=_CANCEL_REASON)
    team: str | None = Field(description="The ticket's team as of the timer's last event.")
    breach_agent: str | None = Field(description="On breached and missed timers: the agent at due.")
    breach_team: str | None = Field(description="On breached and missed timers: the team at due.")
    segments: list[OwnershipSegmentOut] = Field(
        description="Who held the ticket, in order, as of the timer's breach or end; empty for a "
        "running timer that has not breached."
    )


class TicketSla(BaseModel):
    ticket: str
    as_of: datetime
    timers: list[TicketTimer]


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    database: bool = Field(description="A query answered within 2 seconds.")
    projection: Literal["running", "starting", "disabled"] = Field(
        description="running: the consumer holds its partitions; disabled: not in this process."
    )
    archive: Literal["running", "starting", "disabled"] = Field(
        "disabled",
        description="The ticket event archive's consumer, likewise. Shown, not required: the "
        "reports do not read the archive, so a lagging archive does not make the API unready.",
    )


class PolicyVersionRow(BaseModel):
    version: str = Field(description="The policy's content hash, as on SLA events.")
    first_loaded_at: datetime = Field(description="When an engine first loaded this version.")
    source: str = Field(description="The file it was loaded from.")
    sha256: str = Field(description="Hex SHA-256 of the YAML text as loaded.")
    effective_from: datetime | None = Field(
        description="`policy.effective_from`: it applies to tickets created from then on; null "
        "when it applies from the start."
    )
    retarget_open: bool = Field(
        description="`policy.retarget_open`: whether open timers of older tickets re-target."
    )
