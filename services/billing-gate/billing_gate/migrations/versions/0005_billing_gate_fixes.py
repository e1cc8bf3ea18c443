"""Billing-gate: counted accounts keep the newest connect time, so a removal is no longer final.

`billing_accounts.connected_at` is the newest `account.connected` time seen for the account
(NULL when only a confirm counted it). An account counts while it has no removal, or while its
newest connect is newer than its newest removal. The identity index loses its `removed_at IS
NULL` predicate, which no longer describes a live account.

Revision ID: 0005
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "billing_accounts", sa.Column("connected_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.drop_index("ix_billing_accounts_identity", table_name="billing_accounts")
    op.create_index(
        "ix_billing_accounts_identity",
        "billing_accounts",
        ["workspace_id", "platform", "platform_account_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_billing_accounts_identity", table_name="billing_accounts")
    op.create_index(
        "ix_billing_accounts_identity",
        "billing_accounts",
        ["workspace_id", "platform", "platform_account_id"],
        postgresql_where=sa.text("removed_at IS NULL"),
    )
    op.drop_column("billing_accounts", "connected_at")
