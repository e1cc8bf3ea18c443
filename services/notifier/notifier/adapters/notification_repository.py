"""Incidents, account states and notifications in PostgreSQL (one session; the caller commits).

Batch writes are single statements over array parameters (`unnest`): one round trip per step
whatever the batch size, and one compiled statement for every size.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, false, func, not_, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.adapters.port import (
    AbstractNotificationRepository,
    AccountRef,
    FeedCursor,
    NotificationRow,
)
from notifier.adapters.tables import notifications, read_marks, reads
from notifier.domain.incidents import (
    AccountState,
    NotificationDraft,
    OpenFailure,
    PostGroup,
)

__all__ = ["NotificationRepository", "notification_row"]

_N = notifications.c

_CLAIM_KEYS = text(
    "INSERT INTO notifier_incident_keys (key) SELECT unnest(CAST(:keys AS text[])) "
    "ON CONFLICT DO NOTHING RETURNING key"
)

# New accounts first (in id order), then every row locked in id order: two batches touching
# the same accounts queue behind each other instead of deadlocking.
_ADD_ACCOUNTS = text("""
INSERT INTO notifier_accounts (account_id, workspace_id, platform)
SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:ws AS uuid[]), CAST(:platforms AS text[]))
  AS v(account_id, workspace_id, platform)
ORDER BY account_id
ON CONFLICT (account_id) DO NOTHING
""")
_LOCK_ACCOUNTS = text("""
SELECT a.*, n.delivery_id AS failure_delivery_id, d.status AS failure_delivery_status
FROM notifier_accounts a
LEFT JOIN notifier_notifications n ON n.id = a.failure_notification_id
LEFT JOIN notifier_deliveries d ON d.id = n.delivery_id
WHERE a.account_id = ANY(CAST(:ids AS uuid[]))
ORDER BY a.account_id
FOR UPDATE OF a
""")
_SAVE_ACCOUNTS = text("""
UPDATE notifier_accounts AS a SET
  label = v.label, episode = v.episode, failure_notification_id = v.failure_id,
  failure_at = v.failure_at, failure_in_digest = v.failure_in_digest, cleared_at = v.cleared_at,
  post_group_id = v.group_id, post_group_opened_at = v.group_at
FROM unnest(
  CAST(:ids AS uuid[]), CAST(:labels AS text[]), CAST(:episodes AS int[]),
  CAST(:failure_ids AS uuid[]), CAST(:failure_ats AS timestamptz[]),
  CAST(:failure_digests AS boolean[]), CAST(:cleared AS timestamptz[]),
  CAST(:group_ids AS uuid[]), CAST(:group_ats AS timestamptz[])
) AS v(account_id, label, episode, failure_id, failure_at, failure_in_digest, cleared_at,
       group_id, group_at)
WHERE a.account_id = v.account_id
""")
# clock_timestamp() per row: the feed's order is the order rows were written.
_ADD_NOTIFICATIONS = text("""
INSERT INTO notifier_notifications
  (id, workspace_id, account_id, kind, incident_key, title, body, data, occurred_at,
   delivery_id, created_at, updated_at)
SELECT v.*, clock_timestamp(), clock_timestamp()
FROM unnest(
  CAST(:ids AS uuid[]), CAST(:ws AS uuid[]), CAST(:accounts AS uuid[]), CAST(:kinds AS text[]),
  CAST(:keys AS text[]), CAST(:titles AS text[]), CAST(:bodies AS text[]),
  CAST(:data AS jsonb[]), CAST(:occurred AS timestamptz[]), CAST(:deliveries AS uuid[])
) AS v
""")
_RESOLVE = text("""
UPDATE notifier_notifications AS n SET resolved_at = v.at, updated_at = clock_timestamp()
FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[])) AS v(id, at)
WHERE n.id = v.id AND n.resolved_at IS NULL
""")


def _state(row: Any) -> AccountState:
    failure = None
    if row.failure_notification_id is not None:
        failure = OpenFailure(
            notification_id=row.failure_notification_id,
            at=row.failure_at,
            delivery_id=row.failure_delivery_id,
            delivery_status=row.failure_delivery_status,
            in_digest=row.failure_in_digest,
        )
    group = None
    if row.post_group_id is not None:
        group = PostGroup(row.post_group_id, row.post_group_opened_at)
    return AccountState(
        account_id=row.account_id,
        workspace_id=row.workspace_id,
        platform=row.platform,
        label=row.label,
        episode=row.episode,
        failure=failure,
        cleared_at=row.cleared_at,
        post_group=group,
    )


def notification_row(row: Any, *, read: bool = False) -> NotificationRow:
    return NotificationRow(
        id=row.id,
        workspace_id=row.workspace_id,
        account_id=row.account_id,
        kind=row.kind,
        title=row.title,
        body=row.body,
        data=dict(row.data),
        occurred_at=row.occurred_at,
        created_at=row.created_at,
        resolved_at=row.resolved_at,
        read=read,
    )


class NotificationRepository(AbstractNotificationRepository):
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- intake -----------------------------------------------------------------------------

    async def claim_keys(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        fresh = await self.session.execute(_CLAIM_KEYS, {"keys": list(dict.fromkeys(keys))})
        return set(fresh.scalars())

    async def lock_accounts(self, refs: Sequence[AccountRef]) -> dict[uuid.UUID, AccountState]:
        if not refs:
            return {}
        unique = sorted({r.account_id: r for r in refs}.values(), key=lambda r: r.account_id)
        ids = [r.account_id for r in unique]
        await self.session.execute(
            _ADD_ACCOUNTS,
            {
                "ids": ids,
                "ws": [r.workspace_id for r in unique],
                "platforms": [r.platform for r in unique],
            },
        )
        rows = await self.session.execute(_LOCK_ACCOUNTS, {"ids": ids})
        return {row.account_id: _state(row) for row in rows}

    async def save_accounts(self, states: Iterable[AccountState]) -> None:
        states = list(states)
        if not states:
            return
        await self.session.execute(
            _SAVE_ACCOUNTS,
            {
                "ids": [s.account_id for s in states],
                "labels": [s.label for s in states],
                "episodes": [s.episode for s in states],
                "failure_ids": [s.failure.notification_id if s.failure else None for s in states],
                "failure_ats": [s.failure.at if s.failure else None for s in states],
                "failure_digests": [bool(s.failure and s.failure.in_digest) for s in states],
                "cleared": [s.cleared_at for s in states],
                "group_ids": [
                    s.post_group.notification_id if s.post_group else None for s in states
                ],
                "group_ats": [s.post_group.opened_at if s.post_group else None for s in states],
            },
        )

    async def add(
        self, drafts: Sequence[NotificationDraft], delivery_ids: Mapping[uuid.UUID, uuid.UUID]
    ) -> None:
        if not drafts:
            return
        await self.session.execute(
            _ADD_NOTIFICATIONS,
            {
                "ids": [d.id for d in drafts],
                "ws": [d.workspace_id for d in drafts],
                "accounts": [d.account_id for d in drafts],
                "kinds": [d.kind for d in drafts],
                "keys": [d.incident_key for d in drafts],
                "titles": [d.title for d in drafts],
                "bodies": [d.body for d in drafts],
                "data": [json.dumps(d.data) for d in drafts],
                "occurred": [d.occurred_at for d in drafts],
                "deliveries": [delivery_ids.get(d.id) for d in drafts],
            },
        )

    async def locked(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, NotificationRow]:
        if not ids:
            return {}
        rows = await self.session.execute(
            select(notifications)
            .where(_N.id.in_(sorted(set(ids))))
            .order_by(_N.id)
            .with_for_update(key_share=True)  # FOR NO KEY UPDATE: read marks may still refer to it
        )
        return {row.id: notification_row(row) for row in rows}

    async def set_content(
        self, notification_id: uuid.UUID, data: dict[str, Any], title: str, body: str
    ) -> None:
        await self.session.execute(
            update(notifications)
            .where(_N.id == notification_id)
            .values(data=data, title=title, body=body, updated_at=func.clock_timestamp())
        )

    async def resolve(self, resolved: Sequence[tuple[uuid.UUID, datetime]]) -> None:
        if not resolved:
            return
        await self.session.execute(
            _RESOLVE, {"ids": [i for i, _ in resolved], "ats": [at for _, at in resolved]}
        )

    # -- the feed ---------------------------------------------------------------------------

    def _is_read(self, workspace_id: uuid.UUID, user_id: str) -> Any:
        marked = (
            select(read_marks.c.read_before)
            .where(read_marks.c.workspace_id == workspace_id, read_marks.c.user_id == user_id)
            .scalar_subquery()
        )
        single = exists().where(
            reads.c.workspace_id == workspace_id,
            reads.c.user_id == user_id,
            reads.c.notification_id == _N.id,
        )
        return or_(_N.created_at <= func.coalesce(marked, func.to_timestamp(0)), single)

    async def page(
        self,
        workspace_id: uuid.UUID,
        user_id: str,
        *,
        limit: int,
        after: FeedCursor | None,
        unread_only: bool,
    ) -> list[NotificationRow]:
        is_read = self._is_read(workspace_id, user_id)
        query = select(notifications, is_read.label("is_read")).where(
            _N.workspace_id == workspace_id
        )
        if after is not None:
            query = query.where(
                or_(
                    _N.created_at < after.created_at,
                    and_(_N.created_at == after.created_at, _N.id < after.id),
                )
            )
        if unread_only:
            query = query.where(not_(is_read))
        query = query.order_by(_N.created_at.desc(), _N.id.desc()).limit(limit)
        return [
            notification_row(row, read=row.is_read) for row in await self.session.execute(query)
        ]

    async def unread_count(self, workspace_id: uuid.UUID, user_id: str) -> int:
        count = await self.session.execute(
            select(func.count())
            .select_from(notifications)
            .where(_N.workspace_id == workspace_id, not_(self._is_read(workspace_id, user_id)))
        )
        return int(count.scalar_one())

    async def get(
        self, workspace_id: uuid.UUID, notification_id: uuid.UUID, user_id: str | None = None
    ) -> NotificationRow | None:
        is_read = self._is_read(workspace_id, user_id) if user_id is not None else false()
        row = (
            await self.session.execute(
                select(notifications, is_read.label("is_read")).where(
                    _N.workspace_id == workspace_id, _N.id == notification_id
                )
            )
        ).first()
        return notification_row(row, read=bool(row.is_read)) if row is not None else None

    async def mark_read(
        self, workspace_id: uuid.UUID, user_id: str, notification_id: uuid.UUID
    ) -> None:
        await self.session.execute(
            insert(reads)
            .values(workspace_id=workspace_id, user_id=user_id, notification_id=notification_id)
            .on_conflict_do_nothing()
        )

    async def mark_all_read(self, workspace_id: uuid.UUID, user_id: str) -> None:
        stmt = insert(read_marks).values(
            workspace_id=workspace_id, user_id=user_id, read_before=func.clock_timestamp()
        )
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=[read_marks.c.workspace_id, read_marks.c.user_id],
                set_={"read_before": stmt.excluded.read_before},
            )
        )
        # Single reads now covered by the mark are noise from here on.
        mark = (
            select(read_marks.c.read_before)
            .where(read_marks.c.workspace_id == workspace_id, read_marks.c.user_id == user_id)
            .scalar_subquery()
        )
        covered = select(_N.id).where(_N.workspace_id == workspace_id, _N.created_at <= mark)
        await self.session.execute(
            reads.delete().where(
                reads.c.workspace_id == workspace_id,
                reads.c.user_id == user_id,
                reads.c.notification_id.in_(covered),
            )
        )
