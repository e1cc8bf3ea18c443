"""Billing-gate's own tables (written only by this service), created by migrations 0003 and 0005.

`billing_accounts` is a projection of account events: a row per account id ever seen, with the
newest connect time (`connected_at`, NULL when only a confirm counted it) and the newest removal
time (`removed_at`). The newest of the two wins, whatever order the events arrive in: a removal
that overtakes its connect still wins, and a connect made after a removal counts again
(`domain.accounts.counts` is the rule; the SQL in `repository.py` says the same).

Decisions also read the shared `accounts` aggregate (`mooring.db.tables.accounts`, read only)
to recognise a reconnect the projection has not caught up with.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, MetaData, PrimaryKeyConstraint, Table, Text, text
from sqlalchemy.dialects.postgresql import UUID

__all__ = ["billing_accounts", "billing_reservations", "billing_workspaces", "metadata"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

billing_workspaces = Table(
    "billing_workspaces",
    metadata,
    Column("workspace_id", UUID(as_uuid=True), primary_key=True),
    # NULL: no plan change seen yet; the configured default plan applies.
    Column("plan", Text),
    Column("plan_changed_at", DateTime(timezone=True)),
)

billing_accounts = Table(
    "billing_accounts",
    metadata,
    Column("workspace_id", UUID(as_uuid=True), nullable=False),
    Column("account_id", UUID(as_uuid=True), nullable=False),
    Column("platform", Text, nullable=False),
    Column("platform_account_id", Text, nullable=False),
    Column("counted_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
    Column("removed_at", DateTime(timezone=True)),
    Column("connected_at", DateTime(timezone=True)),
    PrimaryKeyConstraint("workspace_id", "account_id"),
    Index("ix_billing_accounts_identity", "workspace_id", "platform", "platform_account_id"),
)

billing_reservations = Table(
    "billing_reservations",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace_id", UUID(as_uuid=True), nullable=False),
    Column("platform", Text),
    Column("platform_account_id", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_at", DateTime(timezone=True)),
    Column("account_id", UUID(as_uuid=True)),
    Column("released_at", DateTime(timezone=True)),
    Column("release_reason", Text),
    Index(
        "ix_billing_reservations_open",
        "workspace_id",
        "expires_at",
        postgresql_where=text("confirmed_at IS NULL AND released_at IS NULL"),
    ),
)
