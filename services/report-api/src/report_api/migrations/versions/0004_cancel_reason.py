"""Why a cancelled timer was cancelled (SPEC sections 5 and 8).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

`cancel_reason` holds `data.reason` of the timer's `sla.cancelled`: reset, cancel_condition,
closed or level_change (a deleted ticket's timers leave the table, so `deleted` is never stored).
It is NULL for every timer that was not cancelled, and for timers cancelled before this column
existed until a rebuild projects them again. Nullable and without a default, so adding it
rewrites nothing.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE sla_timers ADD COLUMN cancel_reason text")


def downgrade() -> None:
    op.execute("ALTER TABLE sla_timers DROP COLUMN cancel_reason")
