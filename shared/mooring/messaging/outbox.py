"""Write events in the caller's transaction; the relay publishes them after commit.

`NOTIFY` is transactional in PostgreSQL: the relay is woken exactly when the row becomes visible,
and a rolled-back transaction wakes nobody and leaves nothing to publish.
"""

from __future__ import annotations

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from mooring.db.tables import outbox
from mooring.events.base import Envelope, Event
from mooring.messaging.cloudevents import encode_body, encode_headers
from mooring.service.tracing import current_trace_headers

__all__ = ["OUTBOX_CHANNEL", "Outbox"]

OUTBOX_CHANNEL = "mooring_outbox"


class Outbox:
    """Adds events to the outbox table; rows carry the full topic name, prefix included."""

    def __init__(self, topic_prefix: str = "") -> None:
        self.topic_prefix = topic_prefix

    async def add(self, session: AsyncSession, *envelopes: Envelope[Event]) -> None:
        if not envelopes:
            return
        # The request's trace travels with the row: the relay publishes inside it later.
        trace_headers = current_trace_headers()
        await session.execute(
            insert(outbox),
            [
                {
                    "event_id": e.id,
                    "topic": self.topic_prefix + e.topic,
                    "key": e.key,
                    "headers": encode_headers(e) | trace_headers,
                    "payload": encode_body(e),
                }
                for e in envelopes
            ],
        )
        await session.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
