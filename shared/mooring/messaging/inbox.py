"""The idempotent-consumer inbox: record an event id in the same transaction as its effect."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from mooring.db.tables import inbox

__all__ = ["first_deliveries", "first_delivery"]


async def first_delivery(
    session: AsyncSession, *, consumer: str, event_id: uuid.UUID, source: str | None = None
) -> bool:
    """True the first time `consumer` sees `event_id` (in this transaction); False for a duplicate.

    Uses RETURNING, not rowcount: through an ORM session rowcount is -1 for ON CONFLICT DO NOTHING,
    which would make every duplicate look new.
    """
    inserted = await session.execute(
        insert(inbox)
        .values(consumer=consumer, event_id=event_id, source=source)
        .on_conflict_do_nothing()
        .returning(inbox.c.event_id)
    )
    return inserted.one_or_none() is not None


async def first_deliveries(
    session: AsyncSession,
    *,
    consumer: str,
    event_ids: Sequence[uuid.UUID],
    sources: Sequence[str | None] | None = None,
) -> set[uuid.UUID]:
    """The batch form: which of `event_ids` this consumer sees for the first time.

    One statement over an array parameter: a VALUES list per batch would be compiled anew for
    every batch size, which costs more than the round trip it saves.
    """
    if not event_ids:
        return set()
    by_id = dict(zip(event_ids, sources or [None] * len(event_ids), strict=True))
    inserted = await session.execute(
        text(
            "INSERT INTO inbox (consumer, event_id, source) "
            "SELECT :consumer, e.id, e.source "
            "FROM unnest(CAST(:ids AS uuid[]), CAST(:sources AS text[])) AS e(id, source) "
            "ON CONFLICT DO NOTHING RETURNING event_id"
        ),
        {"consumer": consumer, "ids": list(by_id), "sources": list(by_id.values())},
    )
    return set(inserted.scalars())
