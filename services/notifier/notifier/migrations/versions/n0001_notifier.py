"""The notifier's tables: incident keys, account states, notifications, the e-mail queue, the
owner directory, e-mail preferences and per-user read state.

The first revision of the notifier's own history (version table `alembic_version_notifier`).

Revision ID: n0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "n0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifier_accounts",
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("platform", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("episode", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("failure_notification_id", sa.UUID(), nullable=True),
        sa.Column("failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "failure_in_digest", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("post_group_id", sa.UUID(), nullable=True),
        sa.Column("post_group_opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_notifier_accounts")),
    )
    op.create_table(
        "notifier_deliveries",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("recipient", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifier_deliveries")),
    )
    op.create_index(
        "ix_notifier_deliveries_due",
        "notifier_deliveries",
        ["not_before"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'sending')"),
    )
    op.create_index(
        "ix_notifier_deliveries_held",
        "notifier_deliveries",
        ["workspace_id"],
        unique=False,
        postgresql_where=sa.text("status = 'held'"),
    )
    op.create_index(
        "ix_notifier_deliveries_open_digest",
        "notifier_deliveries",
        ["workspace_id", "group_key"],
        unique=True,
        postgresql_where=sa.text("group_key IS NOT NULL AND status IN ('held', 'pending')"),
    )
    op.create_index(
        "ix_notifier_deliveries_status",
        "notifier_deliveries",
        ["status", "created_at"],
        unique=False,
    )
    op.create_table(
        "notifier_incident_keys",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column(
            "seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_notifier_incident_keys")),
    )
    op.create_table(
        "notifier_owners",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_notifier_owners")),
    )
    op.create_table(
        "notifier_preferences",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("workspace_id", "kind", name=op.f("pk_notifier_preferences")),
    )
    op.create_table(
        "notifier_read_marks",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("read_before", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "user_id", name=op.f("pk_notifier_read_marks")),
    )
    op.create_table(
        "notifier_notifications",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("incident_key", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivery_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["notifier_deliveries.id"],
            name=op.f("fk_notifier_notifications_delivery_id_notifier_deliveries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifier_notifications")),
    )
    op.create_index(
        "ix_notifier_notifications_delivery",
        "notifier_notifications",
        ["delivery_id"],
        unique=False,
    )
    op.create_index(
        "ix_notifier_notifications_feed",
        "notifier_notifications",
        ["workspace_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "notifier_reads",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("notification_id", sa.UUID(), nullable=False),
        sa.Column(
            "read_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifier_notifications.id"],
            name=op.f("fk_notifier_reads_notification_id_notifier_notifications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "user_id", "notification_id", name=op.f("pk_notifier_reads")
        ),
    )


def downgrade() -> None:
    op.drop_table("notifier_reads")
    op.drop_index("ix_notifier_notifications_feed", table_name="notifier_notifications")
    op.drop_index("ix_notifier_notifications_delivery", table_name="notifier_notifications")
    op.drop_table("notifier_notifications")
    op.drop_table("notifier_read_marks")
    op.drop_table("notifier_preferences")
    op.drop_table("notifier_owners")
    op.drop_table("notifier_incident_keys")
    op.drop_index("ix_notifier_deliveries_status", table_name="notifier_deliveries")
    op.drop_index(
        "ix_notifier_deliveries_open_digest",
        table_name="notifier_deliveries",
        postgresql_where=sa.text("group_key IS NOT NULL AND status IN ('held', 'pending')"),
    )
    op.drop_index(
        "ix_notifier_deliveries_held",
        table_name="notifier_deliveries",
        postgresql_where=sa.text("status = 'held'"),
    )
    op.drop_index(
        "ix_notifier_deliveries_due",
        table_name="notifier_deliveries",
        postgresql_where=sa.text("status IN ('pending', 'sending')"),
    )
    op.drop_table("notifier_deliveries")
    op.drop_table("notifier_accounts")
