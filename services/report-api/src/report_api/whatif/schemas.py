"""Request and response models of the what-if routes (the OpenAPI document's shapes)."""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Verdict = Literal["running", "breached", "fulfilled", "missed", "cancelled"]
Status = Literal["queued", "running", "done", "failed"]


class WhatIfRequest(BaseModel):
    """A candidate policy and the range to replay under it."""

    model_config = ConfigDict(
        populate_by_name=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "policy": "levels:\n  standard:\n    targets: {first_answer: 8h}\n"
                    "default_level: standard\n",
                    "from": "2026-11-01",
                    "to": "2026-12-01",
                    "tz": "Europe/Oslo",
                    "group_by": "level",
                }
            ]
        },
    )

    policy: str = Field(max_length=1_000_000, description="The candidate policy, as YAML.")
    older_policies: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Earlier versions (YAML), oldest first, for the tickets created before the "
        "candidate's `policy.effective_from`: the replay holds them as the engine holds the "
        "versions it loaded (SPEC section 8). `sla verify` sends every recorded version.",
    )
    from_: str = Field(
        alias="from",
        max_length=64,
        description="Start (inclusive) of the timers' started_at: a date (local midnight in tz) "
        "or an RFC 3339 date-time.",
    )
    to: str = Field(max_length=64, description="End (exclusive), like from.")
    tz: str = Field("UTC", max_length=64, description="IANA zone of dates and date groups.")
    group_by: str | list[str] = Field(
        "level",
        description="The compliance report's group keys: a comma list or a list of "
        "date, week, month, department, agent, level, metric, team.",
    )


class WhatIfAccepted(BaseModel):
    id: str
    status: Status
    href: str = Field(description="Where to follow the job (also in the Location header).")


class Progress(BaseModel):
    events_done: int = Field(ge=0, description="Archived ticket events replayed so far.")
    events_total: int | None = Field(description="Events to replay; null until counted.")
    fraction: float | None = Field(ge=0, le=1)


class Side(BaseModel):
    fulfilled: int
    missed: int
    compliance_ratio: float | None


class Sides(BaseModel):
    live: Side
    candidate: Side
    difference: Side = Field(description="Candidate less live.")


class WhatIfRow(Sides):
    """One group: only the keys named in group_by are present."""

    date: dt.date | None = None
    week: dt.date | None = None
    month: str | None = None
    department: str | None = None
    agent: str | None = None
    level: str | None = None
    metric: str | None = None
    team: str | None = None


class WhatIfResult(BaseModel):
    from_: str = Field(alias="from")
    to: str
    tz: str
    group_by: list[str]
    rows: list[WhatIfRow]
    totals: Sides
    changed_tickets: int = Field(
        description="How many timers' verdicts change (listed at /v1/what-if/{id}/tickets)."
    )
    skipped_events: int = Field(
        description="Archived records the replay could not decode or apply (as the engine "
        "dead-letters them)."
    )


class WhatIfJob(BaseModel):
    id: str
    status: Status
    progress: Progress
    request: dict[str, object]
    policy_version: str = Field(description="The candidate's content hash.")
    error: dict[str, object] | None = Field(description="Problem details of a failed job.")
    result: WhatIfResult | None
    created_at: datetime
    updated_at: datetime


class ChangedTimer(BaseModel):
    """A timer whose verdict the candidate changes; a side is null where it has no such timer."""

    ticket_id: str
    timer_id: str
    metric: str
    cycle: int
    level: str | None
    live: Verdict | None
    live_due_at: datetime | None
    candidate: Verdict | None
    candidate_due_at: datetime | None


class ChangedTimersPage(BaseModel):
    items: list[ChangedTimer]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
