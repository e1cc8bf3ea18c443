"""The inbox records each handled event's ce_source, next to its id: who said so, for audits.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inbox", sa.Column("source", sa.Text()))


def downgrade() -> None:
    op.drop_column("inbox", "source")
