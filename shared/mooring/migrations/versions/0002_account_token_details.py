"""Accounts remember when their token was issued and which server issued it.

Instagram and Threads may only extend a token at least 24 h old, so the issue time is needed;
Bluesky (PDS) and Mastodon (instance) accounts live on a server of their own.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("token_issued_at", sa.DateTime(timezone=True)))
    op.add_column("accounts", sa.Column("service_url", sa.Text()))


def downgrade() -> None:
    op.drop_column("accounts", "service_url")
    op.drop_column("accounts", "token_issued_at")
