"""The e-mail queue in PostgreSQL: deliveries, their claim by workers, and the operator's view.

Workers share the queue with `FOR UPDATE SKIP LOCKED`: each claims rows nobody else holds and
marks them `sending` with a lease (`not_before` = the lease's end), so a worker that dies leaves
its rows to be claimed again once the lease ends. Times are the database's clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.adapters.notification_repository import notification_row
from notifier.adapters.port import (
    AbstractDeliveryRepository,
    ClaimedDelivery,
    DeliveryView,
    DigestWanted,
    Finished,
    NewDelivery,
)
from notifier.adapters.tables import deliveries, notifications, owners
from notifier.domain.incidents import DeliveryStatus

__all__ = ["DeliveryRepository"]

_D = deliveries.c

# A digest open for the (workspace, run) is joined, or one is opened; either way it is locked
# until commit, so a worker cannot claim it while notifications are still joining it. A worker
# that claimed it first has moved it to `sending`: it no longer matches the open-digest index,
# so a late failure opens the run's next digest instead of joining one that has gone.
_OPEN_DIGESTS = text("""
INSERT INTO notifier_deliveries
  (id, workspace_id, template, group_key, status, not_before, created_at, updated_at)
SELECT gen_random_uuid(), v.workspace_id, 'connections_digest', v.group_key, v.status,
       clock_timestamp() + make_interval(secs => v.delay_s), clock_timestamp(), clock_timestamp()
FROM unnest(CAST(:ws AS uuid[]), CAST(:keys AS text[]), CAST(:statuses AS text[]),
            CAST(:delays AS float8[])) AS v(workspace_id, group_key, status, delay_s)
ORDER BY v.workspace_id, v.group_key
ON CONFLICT (workspace_id, group_key)
  WHERE group_key IS NOT NULL AND status IN ('held', 'pending')
DO UPDATE SET
  status = CASE WHEN EXCLUDED.status = 'pending' THEN 'pending'
                ELSE notifier_deliveries.status END,
  updated_at = clock_timestamp()
RETURNING id, workspace_id, group_key
""")
_ADD = text("""
INSERT INTO notifier_deliveries
  (id, workspace_id, template, status, not_before, created_at, updated_at)
SELECT v.id, v.workspace_id, v.template, v.status,
       clock_timestamp() + make_interval(secs => v.delay_s), clock_timestamp(), clock_timestamp()
FROM unnest(CAST(:ids AS uuid[]), CAST(:ws AS uuid[]), CAST(:templates AS text[]),
            CAST(:statuses AS text[]), CAST(:delays AS float8[]))
  AS v(id, workspace_id, template, status, delay_s)
""")
_SUPERSEDE = text("""
UPDATE notifier_deliveries SET status = 'superseded', updated_at = clock_timestamp()
WHERE id = ANY(CAST(:ids AS uuid[])) AND status IN ('held', 'pending')
""")
# SKIP LOCKED: a digest being joined right now is left for the periodic sweep, rather than
# waited on (the joining batch may be waiting for a lock this statement holds).
_RELEASE_HELD = """
UPDATE notifier_deliveries AS d
SET status = 'pending', not_before = greatest(d.not_before, clock_timestamp()),
    updated_at = clock_timestamp()
WHERE d.id IN (
  SELECT h.id FROM notifier_deliveries h
  JOIN notifier_owners o ON o.workspace_id = h.workspace_id
  WHERE h.status = 'held' {only}
  FOR UPDATE OF h SKIP LOCKED
)
RETURNING d.id
"""
_CLAIM = text("""
WITH due AS (
  SELECT id FROM notifier_deliveries
  WHERE status IN ('pending', 'sending') AND not_before <= clock_timestamp()
  ORDER BY not_before
  LIMIT :limit
  FOR UPDATE SKIP LOCKED
)
UPDATE notifier_deliveries AS d
SET status = 'sending', attempts = d.attempts + 1, updated_at = clock_timestamp(),
    not_before = clock_timestamp() + make_interval(secs => :lease_s)
FROM due WHERE d.id = due.id
RETURNING d.id, d.workspace_id, d.template, d.attempts, d.created_at,
          clock_timestamp() AS claimed_at
""")
_FINISH = text("""
UPDATE notifier_deliveries AS d SET
  status = v.status,
  not_before = CASE WHEN v.retry_in_s IS NULL THEN d.not_before
                    ELSE clock_timestamp() + make_interval(secs => v.retry_in_s) END,
  last_code = v.code,
  last_error = v.error,
  recipient = coalesce(v.recipient, d.recipient),
  sent_at = CASE WHEN v.status = 'sent' THEN clock_timestamp() ELSE d.sent_at END,
  updated_at = clock_timestamp()
FROM unnest(CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:retries AS float8[]),
            CAST(:codes AS int[]), CAST(:errors AS text[]), CAST(:recipients AS text[]))
  AS v(id, status, retry_in_s, code, error, recipient)
WHERE d.id = v.id AND d.status = 'sending'
""")
_RETRY = text("""
UPDATE notifier_deliveries SET status = 'pending', not_before = clock_timestamp(),
  updated_at = clock_timestamp()
WHERE id = :id AND status = 'failed'
RETURNING id
""")


def _view(row: Any) -> DeliveryView:
    return DeliveryView(
        id=row.id,
        workspace_id=row.workspace_id,
        template=row.template,
        group_key=row.group_key,
        status=row.status,
        attempts=row.attempts,
        not_before=row.not_before,
        last_code=row.last_code,
        last_error=row.last_error,
        recipient=row.recipient,
        created_at=row.created_at,
        updated_at=row.updated_at,
        sent_at=row.sent_at,
        notification_ids=[i for i in (row.notification_ids or []) if i is not None],
    )


class DeliveryRepository(AbstractDeliveryRepository):
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open_digests(
        self, wanted: Sequence[DigestWanted]
    ) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
        if not wanted:
            return {}
        # One row per digest: ON CONFLICT DO UPDATE may not touch a row twice in a statement.
        unique: dict[tuple[uuid.UUID, str], DigestWanted] = {}
        for w in wanted:
            known = unique.get((w.workspace_id, w.group_key))
            if known is None or (w.status == "pending" and known.status != "pending"):
                unique[w.workspace_id, w.group_key] = w
        rows = await self.session.execute(
            _OPEN_DIGESTS,
            {
                "ws": [w.workspace_id for w in unique.values()],
                "keys": [w.group_key for w in unique.values()],
                "statuses": [w.status for w in unique.values()],
                "delays": [w.delay_s for w in unique.values()],
            },
        )
        return {(row.workspace_id, row.group_key): row.id for row in rows}

    async def add(self, deliveries: Sequence[NewDelivery]) -> None:
        if not deliveries:
            return
        await self.session.execute(
            _ADD,
            {
                "ids": [d.id for d in deliveries],
                "ws": [d.workspace_id for d in deliveries],
                "templates": [d.template for d in deliveries],
                "statuses": [d.status for d in deliveries],
                "delays": [d.delay_s for d in deliveries],
            },
        )

    async def supersede(self, ids: Sequence[uuid.UUID]) -> None:
        if ids:
            await self.session.execute(_SUPERSEDE, {"ids": list(ids)})

    async def release_held(self, workspace_ids: Sequence[uuid.UUID] | None = None) -> int:
        if workspace_ids is None:
            stmt, params = text(_RELEASE_HELD.format(only="")), {}
        else:
            stmt = text(_RELEASE_HELD.format(only="AND h.workspace_id = ANY(CAST(:ws AS uuid[]))"))
            params = {"ws": list(workspace_ids)}
        return len((await self.session.execute(stmt, params)).all())

    async def claim(self, limit: int, lease_s: float) -> list[ClaimedDelivery]:
        claimed = (await self.session.execute(_CLAIM, {"limit": limit, "lease_s": lease_s})).all()
        if not claimed:
            return []
        ids = [row.id for row in claimed]
        found = await self.session.execute(
            select(owners.c.workspace_id, owners.c.email).where(
                owners.c.workspace_id.in_({row.workspace_id for row in claimed})
            )
        )
        recipients = dict(found.tuples().all())
        carried: dict[uuid.UUID, list[Any]] = {i: [] for i in ids}
        rows = await self.session.execute(
            select(notifications)
            .where(notifications.c.delivery_id.in_(ids))
            .order_by(notifications.c.created_at, notifications.c.id)
        )
        for row in rows:
            carried[row.delivery_id].append(notification_row(row))
        return [
            ClaimedDelivery(
                id=row.id,
                workspace_id=row.workspace_id,
                template=row.template,
                attempts=row.attempts,
                created_at=row.created_at,
                claimed_at=row.claimed_at,
                recipient=recipients.get(row.workspace_id),
                notifications=carried[row.id],
            )
            for row in claimed
        ]

    async def finish(self, finished: Sequence[Finished]) -> None:
        if not finished:
            return
        await self.session.execute(
            _FINISH,
            {
                "ids": [f.delivery_id for f in finished],
                "statuses": [f.status for f in finished],
                "retries": [f.retry_in_s for f in finished],
                "codes": [f.code for f in finished],
                "errors": [f.error for f in finished],
                "recipients": [f.recipient for f in finished],
            },
        )

    def _views(self) -> Any:
        return (
            select(
                deliveries,
                func.array_agg(notifications.c.id).label("notification_ids"),
            )
            .select_from(deliveries.outerjoin(notifications, notifications.c.delivery_id == _D.id))
            .group_by(_D.id)
        )

    async def view(
        self,
        *,
        status: DeliveryStatus | None = None,
        workspace_id: uuid.UUID | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[DeliveryView]:
        query = self._views()
        if status is not None:
            query = query.where(_D.status == status)
        if workspace_id is not None:
            query = query.where(_D.workspace_id == workspace_id)
        query = query.order_by(_D.created_at.desc(), _D.id.desc()).limit(limit).offset(offset)
        return [_view(row) for row in await self.session.execute(query)]

    async def get(self, delivery_id: uuid.UUID) -> DeliveryView | None:
        row = (await self.session.execute(self._views().where(_D.id == delivery_id))).first()
        return _view(row) if row is not None else None

    async def retry_failed(self, delivery_id: uuid.UUID) -> bool:
        return (await self.session.execute(_RETRY, {"id": delivery_id})).first() is not None
