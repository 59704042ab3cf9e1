"""Ownership (SPEC section 11): the ticket's team on each timer, the holder at the breach, and
the timers' ownership segments.

Revision ID: 0005
Revises: 0004 (cancel_reason, branch cond-reports)
Create Date: 2026-12-01

Chaining: this revision follows 0004. Until 0004 is merged next to it, `down_revision` below
names "0003"; at the merge that one line becomes "0004" (nothing here depends on 0004's column).

The new columns of `sla_timers` are nullable and have no default, so adding them rewrites
nothing and is instant on a large table. Rows projected before this revision keep NULL until a
newer event of their timer arrives. `breach_agent` and `breach_team` are set on breached and
missed rows only: the holder at the due (`attribute=at_breach` reads them).

`sla_segments` holds one row per holder of a timer, from its latest event that carried segments
(`sla.breached` or an ending); a timer that never breached and is still running has none yet.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SEGMENTS = """
CREATE TABLE sla_segments (
    timer_id         text COLLATE "C" NOT NULL,
    n                integer NOT NULL,
    ticket_id        text COLLATE "C" NOT NULL,
    agent            text COLLATE "C",
    team             text COLLATE "C",
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz NOT NULL,
    business_seconds double precision NOT NULL,
    PRIMARY KEY (timer_id, n)
)
"""


def upgrade() -> None:
    op.execute(
        'ALTER TABLE sla_timers ADD COLUMN team text COLLATE "C", '
        'ADD COLUMN breach_agent text COLLATE "C", ADD COLUMN breach_team text COLLATE "C"'
    )
    op.execute(SEGMENTS)
    op.execute("CREATE INDEX sla_segments_ticket ON sla_segments (ticket_id)")


def downgrade() -> None:
    op.execute("DROP TABLE sla_segments")
    op.execute(
        "ALTER TABLE sla_timers DROP COLUMN breach_team, DROP COLUMN breach_agent, DROP COLUMN team"
    )
