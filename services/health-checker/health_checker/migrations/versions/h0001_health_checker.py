"""Health-checker's tables: check runs and batches, quota tallies, the delivery projection and
the stuck decisions.

The first revision of health-checker's own history (version table
`alembic_version_health_checker`).

Revision ID: h0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "h0001"
down_revision = None
branch_labels = None
depends_on = None

_UUID = postgresql.UUID(as_uuid=True)
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "hc_check_runs",
        sa.Column("id", _UUID, nullable=False),
        sa.Column("status", sa.Text(), server_default="running", nullable=False),
        sa.Column("started_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.Column("window_ends_at", _TS, nullable=False),
        sa.Column("ticks", sa.Integer(), server_default="1", nullable=False),
        sa.Column("finished_at", _TS),
        sa.PrimaryKeyConstraint("id", name="pk_hc_check_runs"),
    )
    op.create_index(
        "ix_hc_check_runs_open",
        "hc_check_runs",
        ["status"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
    )
    op.create_index("ix_hc_check_runs_started_at", "hc_check_runs", ["started_at"])
    op.create_table(
        "hc_check_batches",
        sa.Column("run_id", _UUID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("after_id", _UUID),
        sa.Column("last_id", _UUID),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), server_default="pending", nullable=False),
        sa.Column("cursor", _UUID),
        sa.Column("claimed_by", sa.Text()),
        sa.Column("claimed_at", _TS),
        sa.Column("finished_at", _TS),
        sa.Column(
            "counts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_hc_check_batches"),
    )
    op.create_index(
        "ix_hc_check_batches_open",
        "hc_check_batches",
        ["run_id", "platform", "seq"],
        postgresql_where=sa.text("state <> 'done'"),
    )
    op.create_table(
        "hc_quota_usage",
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("calls", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("platform", "day", name="pk_hc_quota_usage"),
    )
    op.create_table(
        "hc_deliveries",
        sa.Column("delivery_id", _UUID, nullable=False),
        sa.Column("post_id", _UUID, nullable=False),
        sa.Column("account_id", _UUID, nullable=False),
        sa.Column("workspace_id", _UUID, nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("publishing_since", _TS),
        sa.Column("last_event_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_hc_deliveries"),
    )
    op.create_index("ix_hc_deliveries_post_id", "hc_deliveries", ["post_id"])
    op.create_index(
        "ix_hc_deliveries_publishing",
        "hc_deliveries",
        ["publishing_since"],
        postgresql_where=sa.text("state = 'publishing'"),
    )
    op.create_index("ix_hc_deliveries_last_event_at", "hc_deliveries", ["last_event_at"])
    op.create_table(
        "hc_stuck_decisions",
        sa.Column("delivery_id", _UUID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("post_id", _UUID, nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", "attempt", name="pk_hc_stuck_decisions"),
    )


def downgrade() -> None:
    op.drop_table("hc_stuck_decisions")
    op.drop_index("ix_hc_deliveries_last_event_at", table_name="hc_deliveries")
    op.drop_index("ix_hc_deliveries_publishing", table_name="hc_deliveries")
    op.drop_index("ix_hc_deliveries_post_id", table_name="hc_deliveries")
    op.drop_table("hc_deliveries")
    op.drop_table("hc_quota_usage")
    op.drop_index("ix_hc_check_batches_open", table_name="hc_check_batches")
    op.drop_table("hc_check_batches")
    op.drop_index("ix_hc_check_runs_started_at", table_name="hc_check_runs")
    op.drop_index("ix_hc_check_runs_open", table_name="hc_check_runs")
    op.drop_table("hc_check_runs")
