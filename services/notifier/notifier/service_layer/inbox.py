"""The in-app feed: a workspace's notifications, newest first, with each reader's read state.

Read state is per user: the owner marking something read does not hide it from an admin, and a
member reading the feed changes nothing for the owner. "Mark all read" records a mark ("read
up to now") rather than a row per notification, so it costs the same for 10 or 10,000.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from notifier.adapters.port import FeedCursor, NotificationRow
from notifier.domain.errors import NotificationNotFoundError
from notifier.service_layer.unit_of_work import AbstractNotifierUnitOfWork

__all__ = ["Inbox", "Page"]


@dataclass(frozen=True)
class Page:
    items: list[NotificationRow]
    unread_count: int
    next: FeedCursor | None


@dataclass(frozen=True)
class Inbox:
    uow: Callable[[], AbstractNotifierUnitOfWork]

    async def page(
        self,
        workspace_id: uuid.UUID,
        user_id: str,
        *,
        limit: int,
        after: FeedCursor | None = None,
        unread_only: bool = False,
    ) -> Page:
        async with self.uow() as uow:
            # One more than asked: whether there is a next page, without a count.
            rows = await uow.notifications.page(
                workspace_id, user_id, limit=limit + 1, after=after, unread_only=unread_only
            )
            unread = await uow.notifications.unread_count(workspace_id, user_id)
        items = rows[:limit]
        more = len(rows) > limit
        cursor = FeedCursor(items[-1].created_at, items[-1].id) if more and items else None
        return Page(items, unread, cursor)

    async def mark_read(
        self, workspace_id: uuid.UUID, user_id: str, notification_id: uuid.UUID
    ) -> NotificationRow:
        """Idempotent; a notification of another workspace is not found."""
        async with self.uow() as uow:
            if await uow.notifications.get(workspace_id, notification_id) is None:
                raise NotificationNotFoundError(notification_id)
            await uow.notifications.mark_read(workspace_id, user_id, notification_id)
            row = await uow.notifications.get(workspace_id, notification_id, user_id)
            await uow.commit()
        assert row is not None  # noqa: S101 - read in the same transaction
        return row

    async def mark_all_read(self, workspace_id: uuid.UUID, user_id: str) -> int:
        """Everything up to now is read for this user; the unread count after."""
        async with self.uow() as uow:
            await uow.notifications.mark_all_read(workspace_id, user_id)
            unread = await uow.notifications.unread_count(workspace_id, user_id)
            await uow.commit()
        return unread
