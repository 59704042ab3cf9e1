"""The zone a timer's calendar is read in, and why (SPEC section 8).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Both columns are nullable: events of engines from before zones came from tickets do not carry
them, and rows projected from such events keep NULL until a newer event of the timer arrives.
Adding nullable columns without a default rewrites nothing, so this is instant on a large table.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE sla_timers ADD COLUMN timezone text, ADD COLUMN timezone_source text")


def downgrade() -> None:
    op.execute("ALTER TABLE sla_timers DROP COLUMN timezone_source, DROP COLUMN timezone")
