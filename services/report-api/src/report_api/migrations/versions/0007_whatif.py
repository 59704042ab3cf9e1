"""What-if jobs (SPEC section 9): their state and results, the timers whose verdicts change, and
an index of the archive by ticket.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

`whatif_jobs` holds a job from its request to its result (JSON), with its progress, so a GET on
any replica finds it; `whatif_timers` the job's timers whose verdict the candidate changes, in
the keyset order of their paging (ticket, timer). Both are in the projection's schema and are
not the projection: a rebuild starts them empty. The archive gets an index by ticket, since a
replay reads the whole history of the tickets that have events in its range.
"""

from __future__ import annotations

import os

from alembic import context, op

from report_api.db import quote_identifier

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JOBS = """
CREATE TABLE whatif_jobs (
    id             text PRIMARY KEY,
    status         text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    request        jsonb NOT NULL,
    policy         text NOT NULL,
    policy_version text NOT NULL,
    events_done    bigint NOT NULL DEFAULT 0,
    events_total   bigint,
    error          jsonb,
    result         jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
)"""
TIMERS = """
CREATE TABLE whatif_timers (
    job_id           text NOT NULL REFERENCES whatif_jobs (id) ON DELETE CASCADE,
    ticket_id        text COLLATE "C" NOT NULL,
    timer_id         text COLLATE "C" NOT NULL,
    metric           text NOT NULL,
    cycle            integer NOT NULL,
    level            text,
    live             text,
    live_due_at      timestamptz,
    candidate        text,
    candidate_due_at timestamptz,
    PRIMARY KEY (job_id, ticket_id, timer_id)
)"""


def _archive_schema() -> str:
    name = context.config.attributes.get("archive_schema") or os.environ.get(
        "SLA_ARCHIVE_SCHEMA", "sla_archive"
    )
    return quote_identifier(name)


def upgrade() -> None:
    op.execute(JOBS)
    op.execute(TIMERS)
    archive = _archive_schema()
    op.execute(
        f"CREATE INDEX IF NOT EXISTS ticket_events_ticket ON {archive}.ticket_events (ticket_id)"
    )


def downgrade() -> None:
    # The archive's index stays with the archive (a downgrade leaves the history be).
    op.execute("DROP TABLE whatif_timers")
    op.execute("DROP TABLE whatif_jobs")
