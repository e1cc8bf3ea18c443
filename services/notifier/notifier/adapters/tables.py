"""The notifier's own tables (written only by this service), created by its migrations.

- `notifier_incident_keys`: one row per incident key ever seen; the primary key is what makes
  an incident notify once, whichever replica or batch sees a copy.
- `notifier_accounts`: per account, what the incident rules need (episode, the open failure,
  `cleared_at`, the open post-failure group, a display label). Its row lock orders a failure and
  a recovery of one account that arrive on different topics.
- `notifier_notifications`: the in-app notifications, one per incident (a post-failure group is
  one), scoped by workspace; `delivery_id` is the e-mail that carries it, if any.
- `notifier_deliveries`: the e-mail queue. `status` is held (no owner known yet) | pending |
  sending (claimed; `not_before` is then the lease's end) | sent | failed | superseded (the
  incident resolved before the mail went). A digest (`group_key` = `run:<check run id>`) is
  unique per workspace while it is still open (held or pending).
- `notifier_owners`: the recipient directory, fed by `workspace.owner_changed` (newest wins).
- `notifier_preferences`: e-mail on/off per workspace and kind (no row: on).
- `notifier_read_marks`, `notifier_reads`: per-user read state ("all read up to" + single reads).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

__all__ = [
    "deliveries",
    "incident_keys",
    "metadata",
    "notification_accounts",
    "notifications",
    "owners",
    "preferences",
    "read_marks",
    "reads",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

_NOW = text("now()")

incident_keys = Table(
    "notifier_incident_keys",
    metadata,
    Column("key", Text, primary_key=True),
    Column("seen_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
)

notification_accounts = Table(
    "notifier_accounts",
    metadata,
    Column("account_id", UUID(as_uuid=True), primary_key=True),
    Column("workspace_id", UUID(as_uuid=True), nullable=False),
    Column("platform", Text, nullable=False),
    Column("label", Text),
    Column("episode", Integer, nullable=False, server_default=text("0")),
    Column("failure_notification_id", UUID(as_uuid=True)),
    Column("failure_at", DateTime(timezone=True)),
    Column("failure_in_digest", Boolean, nullable=False, server_default=text("false")),
    Column("cleared_at", DateTime(timezone=True)),
    Column("post_group_id", UUID(as_uuid=True)),
    Column("post_group_opened_at", DateTime(timezone=True)),
)

deliveries = Table(
    "notifier_deliveries",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace_id", UUID(as_uuid=True), nullable=False),
    Column("template", Text, nullable=False),
    Column("group_key", Text),
    Column("status", Text, nullable=False),
    Column("not_before", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_code", Integer),
    Column("last_error", Text),
    Column("recipient", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    Column("sent_at", DateTime(timezone=True)),
    # What the worker claims: due rows, and claimed rows whose lease ran out.
    Index(
        "ix_notifier_deliveries_due",
        "not_before",
        postgresql_where=text("status IN ('pending', 'sending')"),
    ),
    Index(
        "ix_notifier_deliveries_open_digest",
        "workspace_id",
        "group_key",
        unique=True,
        postgresql_where=text("group_key IS NOT NULL AND status IN ('held', 'pending')"),
    ),
    Index(
        "ix_notifier_deliveries_held",
        "workspace_id",
        postgresql_where=text("status = 'held'"),
    ),
    Index("ix_notifier_deliveries_status", "status", "created_at"),
)

notifications = Table(
    "notifier_notifications",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("workspace_id", UUID(as_uuid=True), nullable=False),
    Column("account_id", UUID(as_uuid=True)),
    Column("kind", Text, nullable=False),
    Column("incident_key", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    Column("resolved_at", DateTime(timezone=True)),
    Column("delivery_id", UUID(as_uuid=True), ForeignKey("notifier_deliveries.id")),
    Index("ix_notifier_notifications_feed", "workspace_id", "created_at", "id"),
    Index("ix_notifier_notifications_delivery", "delivery_id"),
)

owners = Table(
    "notifier_owners",
    metadata,
    Column("workspace_id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("email", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

preferences = Table(
    "notifier_preferences",
    metadata,
    Column("workspace_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("email", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    PrimaryKeyConstraint("workspace_id", "kind"),
)

read_marks = Table(
    "notifier_read_marks",
    metadata,
    Column("workspace_id", UUID(as_uuid=True), nullable=False),
    Column("user_id", Text, nullable=False),
    Column("read_before", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("workspace_id", "user_id"),
)

reads = Table(
    "notifier_reads",
    metadata,
    Column("workspace_id", UUID(as_uuid=True), nullable=False),
    Column("user_id", Text, nullable=False),
    Column(
        "notification_id",
        UUID(as_uuid=True),
        ForeignKey("notifier_notifications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("read_at", DateTime(timezone=True), nullable=False, server_default=_NOW),
    PrimaryKeyConstraint("workspace_id", "user_id", "notification_id"),
)
