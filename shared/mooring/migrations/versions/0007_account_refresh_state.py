"""Accounts remember their refresh state: the refresh token's expiry, when to try next, failures.

`refresh_expires_at` is the refresh token's own expiry (TikTok, LinkedIn partner apps);
`next_refresh_at` holds a cooldown or a platform's Retry-After, and the verification due date of
a token whose answer carried no expiry; `refresh_failures` counts days with failed refreshes
(at most one per day) since `refresh_failing_since`; `last_failure` is a reason code such as
`transient:http_503` or `policy:missing_scope`, never a token or a platform's message.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TIMES = (
    "refresh_expires_at",
    "next_refresh_at",
    "refresh_failing_since",
    "last_refresh_failure_at",
)


def upgrade() -> None:
    for name in _TIMES:
        op.add_column("accounts", sa.Column(name, sa.DateTime(timezone=True)))
    op.add_column(
        "accounts", sa.Column("refresh_failures", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("accounts", sa.Column("last_failure", sa.Text()))
    op.create_index(
        "ix_accounts_status_token_expires_at",
        "accounts",
        ["status", "token_expires_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_accounts_status_token_expires_at", table_name="accounts")
    op.drop_column("accounts", "last_failure")
    op.drop_column("accounts", "refresh_failures")
    for name in reversed(_TIMES):
        op.drop_column("accounts", name)
