"""The connector's own tables (written only by this service), created by its migrations.

`connector_sessions` holds connect sessions: one row per started connect, found at the callback
by the SHA-256 digest of its state (the state itself is never stored). `sealed` is the vault
ciphertext of the session's secrets (PKCE verifier, the user's tokens, the pending candidates'
tokens) with `connector_session:<id>` as associated data; it is cleared when the session ends
and purged with the row. `connector_start_windows` counts connect starts per workspace (a fixed
window under a row lock) for the rate limit.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

__all__ = ["connector_sessions", "connector_start_windows", "metadata"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

SESSION_STATUSES = ("pending", "selecting", "completing", "completed", "failed")

connector_sessions = Table(
    "connector_sessions",
    metadata,
    Column("id", UUID(as_uuid=True), nullable=False),
    Column("state_digest", LargeBinary, nullable=False),
    Column("workspace_id", UUID(as_uuid=True), nullable=False),
    Column("user_id", Text, nullable=False),
    Column("platform", Text, nullable=False),
    Column("redirect_url", Text, nullable=False),
    Column("reconnect_account_id", UUID(as_uuid=True)),
    Column("service_url", Text),  # the Mastodon instance; not a secret
    Column("status", Text, nullable=False, server_default="pending"),
    Column("error", Text),  # a code (`state_expired`), never a message
    Column("candidates", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("account_ids", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("sealed", LargeBinary),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("consumed_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("id"),
    UniqueConstraint("state_digest"),
    CheckConstraint(
        "status IN ('pending', 'selecting', 'completing', 'completed', 'failed')",
        name="status_known",
    ),
    Index(None, "workspace_id"),
    Index(None, "expires_at"),
)

connector_start_windows = Table(
    "connector_start_windows",
    metadata,
    Column("workspace_id", UUID(as_uuid=True), nullable=False),
    Column("window_started_at", DateTime(timezone=True), nullable=False),
    Column("starts", Integer, nullable=False),
    PrimaryKeyConstraint("workspace_id"),
)
