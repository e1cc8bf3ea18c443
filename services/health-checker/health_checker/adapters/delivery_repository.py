"""The delivery projection and the stuck decisions in PostgreSQL (one session; caller commits).

Rows of a batch are created (first event) and then locked in delivery-id order, so two
consumers folding overlapping batches (a rebalance) wait for each other instead of deadlocking
or overwriting each other's fold.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Row, and_, bindparam, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from health_checker.adapters.port import AbstractDeliveryRepository
from health_checker.adapters.tables import hc_deliveries, hc_stuck_decisions
from health_checker.domain.deliveries import (
    Delivery,
    DeliveryEvent,
    DeliveryState,
)

__all__ = ["DeliveryRepository"]

_D = hc_deliveries.c
_S = hc_stuck_decisions.c

_SAVE = (
    update(hc_deliveries)
    .where(_D.delivery_id == bindparam("b_id"))
    .values(
        attempt=bindparam("b_attempt"),
        state=bindparam("b_state"),
        publishing_since=bindparam("b_since"),
        last_event_at=bindparam("b_last"),
        updated_at=func.now(),
    )
)


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        delivery_id=row.delivery_id,
        post_id=row.post_id,
        account_id=row.account_id,
        workspace_id=row.workspace_id,
        platform=row.platform,
        attempt=row.attempt,
        state=DeliveryState(row.state),
        publishing_since=row.publishing_since,
        last_event_at=row.last_event_at,
    )


def _decided() -> Any:
    return exists().where(_S.delivery_id == _D.delivery_id, _S.attempt == _D.attempt)


class DeliveryRepository(AbstractDeliveryRepository):
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def now(self) -> datetime:
        now: datetime = (
            await self.session.execute(select(func.clock_timestamp(type_=DateTime(timezone=True))))
        ).scalar_one()
        return now

    async def lock(self, events: Sequence[DeliveryEvent]) -> dict[uuid.UUID, Delivery]:
        firsts: dict[uuid.UUID, Delivery] = {}
        for event in events:
            firsts.setdefault(event.delivery_id, Delivery.first(event))
        if not firsts:
            return {}
        ordered = [firsts[key] for key in sorted(firsts)]
        await self.session.execute(
            insert(hc_deliveries)
            .values(
                [
                    {
                        "delivery_id": d.delivery_id,
                        "post_id": d.post_id,
                        "account_id": d.account_id,
                        "workspace_id": d.workspace_id,
                        "platform": d.platform,
                        "attempt": d.attempt,
                        "state": d.state.value,
                        "publishing_since": d.publishing_since,
                        "last_event_at": d.last_event_at,
                    }
                    for d in ordered
                ]
            )
            .on_conflict_do_nothing()
        )
        rows = await self.session.execute(
            select(hc_deliveries)
            .where(_D.delivery_id.in_(list(firsts)))
            .order_by(_D.delivery_id)
            .with_for_update()
        )
        return {row.delivery_id: _delivery(row) for row in rows}

    async def save(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        await self.session.execute(
            _SAVE,
            [
                {
                    "b_id": d.delivery_id,
                    "b_attempt": d.attempt,
                    "b_state": d.state.value,
                    "b_since": d.publishing_since,
                    "b_last": d.last_event_at,
                }
                for d in deliveries
            ],
        )

    async def stuck(self, stuck_before: datetime, limit: int) -> list[Delivery]:
        rows = await self.session.execute(
            select(hc_deliveries)
            .where(
                _D.state == DeliveryState.PUBLISHING.value,
                _D.publishing_since <= stuck_before,
                ~_decided(),
            )
            .order_by(_D.publishing_since)
            .limit(limit)
        )
        return [_delivery(row) for row in rows]

    async def of_posts(self, post_ids: Collection[uuid.UUID]) -> list[Delivery]:
        if not post_ids:
            return []
        rows = await self.session.execute(
            select(hc_deliveries).where(_D.post_id.in_(list(post_ids)))
        )
        return [_delivery(row) for row in rows]

    async def record_decision(self, delivery: Delivery, decision: str, reason: str) -> bool:
        inserted = await self.session.execute(
            insert(hc_stuck_decisions)
            .values(
                delivery_id=delivery.delivery_id,
                attempt=delivery.attempt,
                post_id=delivery.post_id,
                decision=decision,
                reason=reason,
            )
            .on_conflict_do_nothing()
            .returning(_S.delivery_id)
        )
        return inserted.first() is not None

    async def prune(self, older_than: datetime) -> int:
        finished = and_(
            _D.last_event_at < older_than,
            (_D.state != DeliveryState.PUBLISHING.value) | _decided(),
        )
        pruned = await self.session.execute(
            delete(hc_deliveries).where(finished).returning(_D.delivery_id)
        )
        count = len(pruned.all())
        orphaned = ~exists().where(_D.delivery_id == _S.delivery_id)
        await self.session.execute(
            delete(hc_stuck_decisions).where(_S.decided_at < older_than, orphaned)
        )
        return count
