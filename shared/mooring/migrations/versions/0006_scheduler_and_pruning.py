"""Scheduled job runs carry their outcome; pruning and per-key holding get their indexes.

`job_runs` records who ran each tick, how it ended (`status`, a redacted `error`), its progress,
and whether it was asked for on demand. The prune predicates (published outbox rows, old inbox
rows) get indexes, so pruning keeps up with the pipeline instead of scanning. Outbox rows waiting
out a back-off get an index on (topic, key, id), which the relay reads to hold back later rows
of the same key.

Revision ID: 0006
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("job_runs", sa.Column("run_id", postgresql.UUID(as_uuid=True)))
    op.add_column(
        "job_runs", sa.Column("status", sa.Text(), server_default="running", nullable=False)
    )
    op.add_column(
        "job_runs",
        sa.Column("manual", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "job_runs", sa.Column("attempts", sa.Integer(), server_default="1", nullable=False)
    )
    op.add_column("job_runs", sa.Column("error", sa.Text()))
    op.add_column(
        "job_runs",
        sa.Column(
            "progress",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    # Rows from before this revision ran to their end or were lost with their process.
    op.execute(
        "UPDATE job_runs SET status = CASE WHEN finished_at IS NULL THEN 'failed' "
        "ELSE 'succeeded' END"
    )
    op.create_check_constraint(
        "ck_job_runs_status_known", "job_runs", "status IN ('running', 'succeeded', 'failed')"
    )
    op.create_index("ix_job_runs_job_started_at", "job_runs", ["job", "started_at"])
    op.create_index(
        "ix_outbox_published_at",
        "outbox",
        ["published_at"],
        postgresql_where=sa.text("published_at IS NOT NULL"),
    )
    op.create_index(
        "ix_outbox_held",
        "outbox",
        ["topic", "key", "id"],
        postgresql_where=sa.text(
            "published_at IS NULL AND parked_at IS NULL AND next_attempt_at IS NOT NULL"
        ),
    )
    op.create_index("ix_inbox_processed_at", "inbox", ["processed_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_processed_at", table_name="inbox")
    op.drop_index("ix_outbox_held", table_name="outbox")
    op.drop_index("ix_outbox_published_at", table_name="outbox")
    op.drop_index("ix_job_runs_job_started_at", table_name="job_runs")
    op.drop_constraint("ck_job_runs_status_known", "job_runs", type_="check")
    for column in ("progress", "error", "attempts", "manual", "status", "run_id"):
        op.drop_column("job_runs", column)
