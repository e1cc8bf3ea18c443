"""The health-checker's own tables (written only by this service), created by its migrations.

- `hc_check_runs`: one row per connection-check run; at most one is `running` at a time (a
  partial unique index), so every replica and every tick works the same open run.
- `hc_check_batches`: the run's plan, one row per batch of one platform's accounts (an id
  range), with its state, claimer, cursor and counts (a JSON object: outcome -> accounts).
- `hc_quota_usage`: requests the checks sent per platform per UTC day, for daily quotas.
- `hc_deliveries`: the projection of the publisher's delivery events (the newest attempt of
  each delivery, its state, since when it is publishing).
- `hc_stuck_decisions`: one row per decided (delivery, attempt): the unique key that makes a
  stuck attempt decided once.

The checks read the shared `accounts` table (`mooring.db.tables.accounts`) to plan a run; every
change to an account goes through the kernel's repository.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

__all__ = [
    "hc_check_batches",
    "hc_check_runs",
    "hc_deliveries",
    "hc_quota_usage",
    "hc_stuck_decisions",
    "metadata",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

hc_check_runs = Table(
    "hc_check_runs",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("status", Text, nullable=False, server_default="running"),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("window_ends_at", DateTime(timezone=True), nullable=False),
    Column("ticks", Integer, nullable=False, server_default="1"),
    Column("finished_at", DateTime(timezone=True)),
    # At most one open run: every replica and every tick works the same one.
    Index("ix_hc_check_runs_open", "status", unique=True, postgresql_where=text("status = 'running'")),
    Index("ix_hc_check_runs_started_at", "started_at"),
)  # fmt: skip

hc_check_batches = Table(
    "hc_check_batches",
    metadata,
    Column("run_id", UUID(as_uuid=True), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("platform", Text, nullable=False),
    Column("after_id", UUID(as_uuid=True)),
    Column("last_id", UUID(as_uuid=True)),
    Column("planned", Integer, nullable=False),
    Column("state", Text, nullable=False, server_default="pending"),
    Column("cursor", UUID(as_uuid=True)),
    Column("claimed_by", Text),
    Column("claimed_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("counts", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    PrimaryKeyConstraint("run_id", "seq"),
    Index("ix_hc_check_batches_open", "run_id", "platform", "seq", postgresql_where=text("state <> 'done'")),
)  # fmt: skip

hc_quota_usage = Table(
    "hc_quota_usage",
    metadata,
    Column("platform", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("calls", Integer, nullable=False, server_default="0"),
    PrimaryKeyConstraint("platform", "day"),
)

hc_deliveries = Table(
    "hc_deliveries",
    metadata,
    Column("delivery_id", UUID(as_uuid=True), primary_key=True),
    Column("post_id", UUID(as_uuid=True), nullable=False),
    Column("account_id", UUID(as_uuid=True), nullable=False),
    Column("workspace_id", UUID(as_uuid=True), nullable=False),
    Column("platform", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("publishing_since", DateTime(timezone=True)),
    Column("last_event_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_hc_deliveries_post_id", "post_id"),
    Index("ix_hc_deliveries_publishing", "publishing_since", postgresql_where=text("state = 'publishing'")),
    Index("ix_hc_deliveries_last_event_at", "last_event_at"),
)  # fmt: skip

hc_stuck_decisions = Table(
    "hc_stuck_decisions",
    metadata,
    Column("delivery_id", UUID(as_uuid=True), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("post_id", UUID(as_uuid=True), nullable=False),
    Column("decision", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("delivery_id", "attempt"),
)
