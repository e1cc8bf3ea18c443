"""The connector's tables: connect sessions (state digests, sealed secrets) and start windows.

The first revision of the connector's own history (version table `alembic_version_connector`).

Revision ID: c0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "c0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_sessions",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("state_digest", sa.LargeBinary(), nullable=False),
        sa.Column("workspace_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("redirect_url", sa.Text(), nullable=False),
        sa.Column("reconnect_account_id", postgresql.UUID(as_uuid=True)),
        sa.Column("service_url", sa.Text()),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column(
            "candidates",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "account_ids",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("sealed", sa.LargeBinary()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumed_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'selecting', 'completing', 'completed', 'failed')",
            name="ck_connector_sessions_status_known",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_connector_sessions"),
        sa.UniqueConstraint("state_digest", name="uq_connector_sessions_state_digest"),
    )
    op.create_index("ix_connector_sessions_workspace_id", "connector_sessions", ["workspace_id"])
    op.create_index("ix_connector_sessions_expires_at", "connector_sessions", ["expires_at"])
    op.create_table(
        "connector_start_windows",
        sa.Column("workspace_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("window_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("starts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", name="pk_connector_start_windows"),
    )


def downgrade() -> None:
    op.drop_table("connector_start_windows")
    op.drop_index("ix_connector_sessions_expires_at", table_name="connector_sessions")
    op.drop_index("ix_connector_sessions_workspace_id", table_name="connector_sessions")
    op.drop_table("connector_sessions")
