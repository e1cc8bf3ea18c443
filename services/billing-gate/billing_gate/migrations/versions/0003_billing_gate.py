"""Billing-gate's tables: workspace plans, the counted-accounts projection, slot reservations.

The first revision of billing-gate's own history (version table `alembic_version_billing_gate`);
its id is the one it had when every service shared the kernel's history. It needs nothing of the
kernel's tables, which are migrated first anyway.

Revision ID: 0003
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_workspaces",
        sa.Column("workspace_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("plan", sa.Text()),
        sa.Column("plan_changed_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("workspace_id", name="pk_billing_workspaces"),
    )
    op.create_table(
        "billing_accounts",
        sa.Column("workspace_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("account_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("platform_account_id", sa.Text(), nullable=False),
        sa.Column(
            "counted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("removed_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("workspace_id", "account_id", name="pk_billing_accounts"),
    )
    op.create_index(
        "ix_billing_accounts_identity",
        "billing_accounts",
        ["workspace_id", "platform", "platform_account_id"],
        postgresql_where=sa.text("removed_at IS NULL"),
    )
    op.create_table(
        "billing_reservations",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("workspace_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("platform", sa.Text()),
        sa.Column("platform_account_id", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True)),
        sa.Column("account_id", postgresql.UUID(as_uuid=True)),
        sa.Column("released_at", sa.DateTime(timezone=True)),
        sa.Column("release_reason", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_billing_reservations"),
    )
    op.create_index(
        "ix_billing_reservations_open",
        "billing_reservations",
        ["workspace_id", "expires_at"],
        postgresql_where=sa.text("confirmed_at IS NULL AND released_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_billing_reservations_open", table_name="billing_reservations")
    op.drop_table("billing_reservations")
    op.drop_index("ix_billing_accounts_identity", table_name="billing_accounts")
    op.drop_table("billing_accounts")
    op.drop_table("billing_workspaces")
