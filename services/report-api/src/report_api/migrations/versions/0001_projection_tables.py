"""The projection tables: timers, deleted tickets, offsets and the compliance rollups.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

The DDL is written out here rather than generated from live code, so this revision stays what it
was when later revisions change the tables. Nothing names a schema: the tables are created in
the first schema of the search_path, which env.py sets (a rebuild migrates a shadow schema).
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Text columns that reports sort or group on use the "C" collation: byte order is the same on
# every server, and keyset cursors compare exactly what the indexes order.
TIMERS = """
CREATE TABLE sla_timers (
    timer_id          text COLLATE "C" PRIMARY KEY,
    ticket_id         text COLLATE "C" NOT NULL,
    metric            text COLLATE "C" NOT NULL,
    cycle             integer NOT NULL,
    level             text COLLATE "C" NOT NULL,
    calendar          text NOT NULL,
    policy_version    text NOT NULL,
    target_seconds    double precision NOT NULL,
    started_at        timestamptz NOT NULL,
    due_at            timestamptz,
    stopped_at        timestamptz,
    elapsed_seconds   double precision NOT NULL,
    remaining_seconds double precision NOT NULL,
    state             text NOT NULL
        CHECK (state IN ('running', 'breached', 'fulfilled', 'missed', 'cancelled')),
    breached          boolean NOT NULL,
    paused            boolean NOT NULL,
    corrected         boolean NOT NULL,
    department        text COLLATE "C",
    agent             text COLLATE "C",
    requester         text COLLATE "C",
    priority          text,
    customer_group    text,
    source            text,
    last_event_at     timestamptz NOT NULL,
    last_emitted_at   timestamptz,
    event_keys        bigint[] NOT NULL,
    -- Whether the SLA seconds left are a stored figure (ended, paused) or run with the clock.
    sla_static        boolean GENERATED ALWAYS AS
        (stopped_at IS NOT NULL OR paused OR due_at IS NULL) STORED
)
"""

# One index per sort key of the SLA log, each ending in timer_id, the keyset tiebreak.
TIMER_INDEXES = {
    "sla_timers_ticket": "(ticket_id, timer_id)",
    "sla_timers_started": "(started_at, timer_id)",
    "sla_timers_requester": "((COALESCE(requester, '')), timer_id)",
    "sla_timers_department": "((COALESCE(department, '')), timer_id)",
    "sla_timers_agent": "((COALESCE(agent, '')), timer_id)",
    "sla_timers_level": "(level, timer_id)",
    "sla_timers_metric": "(metric, timer_id)",
    "sla_timers_due": "((COALESCE(due_at, 'infinity'::timestamptz)), timer_id)",
    "sla_timers_closed": "((COALESCE(stopped_at, 'infinity'::timestamptz)), timer_id)",
    "sla_timers_sla_static": "(remaining_seconds, timer_id) WHERE sla_static",
    "sla_timers_sla_running": "(due_at, timer_id) WHERE NOT sla_static",
}

ROLLUPS = {
    "rollup_quarter": ("department", "agent", "level", "metric"),
    "rollup_quarter_department": ("department",),
    "rollup_hour": ("department", "level", "metric"),
    "rollup_hour_department": ("department",),
}
NOT_NULL_DIMS = {"level", "metric"}


def _rollup_ddl(table: str, dims: tuple[str, ...]) -> list[str]:
    columns = ",\n    ".join(
        f'{d} text COLLATE "C"' + (" NOT NULL" if d in NOT_NULL_DIMS else "") for d in dims
    )
    return [
        f"""
CREATE TABLE {table} (
    bucket             timestamptz NOT NULL,
    {columns},
    fulfilled_count    bigint NOT NULL,
    fulfilled_sum      numeric NOT NULL,
    fulfilled_max      double precision,
    fulfilled_min      double precision,
    missed_count       bigint NOT NULL,
    missed_ended_count bigint NOT NULL,
    missed_sum         numeric NOT NULL,
    missed_max         double precision,
    missed_min         double precision
)""",
        # NULLS NOT DISTINCT: a timer without department or agent still has one row per bucket.
        f"CREATE UNIQUE INDEX {table}_key ON {table} (bucket, {', '.join(dims)}) "
        "NULLS NOT DISTINCT",
    ]


def upgrade() -> None:
    op.execute(TIMERS)
    for name, columns in TIMER_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON sla_timers {columns}")
    op.execute(
        """
CREATE TABLE deleted_tickets (
    ticket_id  text COLLATE "C" PRIMARY KEY,
    deleted_at timestamptz NOT NULL,
    event_id   text NOT NULL
)"""
    )
    op.execute(
        """
CREATE TABLE projection_offsets (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
)"""
    )
    for table, dims in ROLLUPS.items():
        for statement in _rollup_ddl(table, dims):
            op.execute(statement)


def downgrade() -> None:
    for table in [*ROLLUPS, "projection_offsets", "deleted_tickets", "sla_timers"]:
        op.execute(f"DROP TABLE {table}")
