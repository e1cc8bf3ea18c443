"""Tables of the shared kernel, on one metadata Alembic compares against.

`accounts` is the one shared aggregate (changed only through `mooring.accounts.AccountRepository`);
`outbox` and `inbox` are the messaging plumbing; `platform_apps` caches per-instance app
registrations (Mastodon) with the client secret encrypted; `job_runs` makes scheduled ticks unique.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
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
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

__all__ = ["accounts", "inbox", "job_runs", "metadata", "outbox", "platform_apps"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ACCOUNT_STATUSES = ("connected", "token_expired", "disconnected")

accounts = Table(
    "accounts",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace_id", UUID(as_uuid=True), nullable=False),
    Column("platform", Text, nullable=False),
    Column("platform_account_id", Text, nullable=False),
    Column("account_type", Text, nullable=False, server_default="profile"),
    Column("username", Text),
    Column("display_name", Text),
    Column("avatar_url", Text),
    Column("status", Text, nullable=False, server_default="connected"),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("version", Integer, nullable=False, server_default="1"),
    # Every secret of the account (access/refresh tokens, app password, page token) in one sealed
    # JSON document; the key id travels inside the ciphertext.
    Column("credentials", LargeBinary, nullable=False),
    Column("token_expires_at", DateTime(timezone=True)),
    Column("token_issued_at", DateTime(timezone=True)),
    Column("service_url", Text),  # Bluesky PDS or Mastodon instance; not a secret
    Column("refreshed_at", DateTime(timezone=True)),
    Column("refresh_expires_at", DateTime(timezone=True)),
    # When token-keeper may try next (cooldown, Retry-After) or must verify a token whose
    # answer carried no expiry; failures counted at most once a day since the streak began.
    Column("next_refresh_at", DateTime(timezone=True)),
    Column("refresh_failures", Integer, nullable=False, server_default="0"),
    Column("refresh_failing_since", DateTime(timezone=True)),
    Column("last_refresh_failure_at", DateTime(timezone=True)),
    Column("last_failure", Text),  # a reason code (`policy:missing_scope`), never a message
    Column("auth_failures", Integer, nullable=False, server_default="0"),
    Column("last_checked_at", DateTime(timezone=True)),
    Column("meta", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("workspace_id", "platform", "platform_account_id"),
    CheckConstraint(
        "status IN ('connected', 'token_expired', 'disconnected')", name="status_known"
    ),
    Index(None, "workspace_id"),
    Index(None, "token_expires_at", postgresql_where=text("status <> 'disconnected'")),
    Index(None, "status", "token_expires_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("topic", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("headers", JSONB, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("parked_at", DateTime(timezone=True)),
    Column("next_attempt_at", DateTime(timezone=True)),
    Index(
        "ix_outbox_unpublished",
        "id",
        postgresql_where=text("published_at IS NULL AND parked_at IS NULL"),
    ),
    Index(
        "ix_outbox_published_at", "published_at", postgresql_where=text("published_at IS NOT NULL")
    ),
    # Rows waiting out a back-off: the relay holds back later rows of the same (topic, key).
    Index(
        "ix_outbox_held",
        "topic",
        "key",
        "id",
        postgresql_where=text(
            "published_at IS NULL AND parked_at IS NULL AND next_attempt_at IS NOT NULL"
        ),
    ),
)

inbox = Table(
    "inbox",
    metadata,
    Column("consumer", Text, nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("source", Text),  # the event's ce_source, as it claimed
    PrimaryKeyConstraint("consumer", "event_id"),
    Index(None, "processed_at"),
)

platform_apps = Table(
    "platform_apps",
    metadata,
    Column("platform", Text, nullable=False),
    Column("instance", Text, nullable=False),
    Column("client_id", Text, nullable=False),
    Column("client_secret_ciphertext", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("platform", "instance"),
)

JOB_STATUSES = ("running", "succeeded", "failed")

# One row per run: a scheduled tick (unique per job, so replicas run it once) or an on-demand run
# (`manual`, its tick the moment it was asked for).
job_runs = Table(
    "job_runs",
    metadata,
    Column("job", Text, nullable=False),
    Column("tick", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Column("owner", Text, nullable=False),
    Column("run_id", UUID(as_uuid=True)),
    Column("status", Text, nullable=False, server_default="running"),
    Column("manual", Boolean, nullable=False, server_default=text("false")),
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("error", Text),
    Column("progress", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    PrimaryKeyConstraint("job", "tick"),
    CheckConstraint("status IN ('running', 'succeeded', 'failed')", name="status_known"),
    Index(None, "job", "started_at"),
)
