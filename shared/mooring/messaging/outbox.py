"""Write events in the caller's transaction; the relay publishes them after commit.

`NOTIFY` is transactional in PostgreSQL: the relay is woken exactly when the row becomes visible,
and a rolled-back transaction wakes nobody and leaves nothing to publish.
"""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mooring.events.base import Envelope, Event
from mooring.messaging.cloudevents import encode_body, encode_headers
from mooring.service.tracing import current_trace_headers

__all__ = ["OUTBOX_CHANNEL", "Outbox"]

OUTBOX_CHANNEL = "mooring_outbox"


# Rows and the relay's wake-up in one round trip, whatever the number of events.
_ADD = text(
    "WITH added AS (INSERT INTO outbox (event_id, topic, key, headers, payload) "
    "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:topics AS text[]), "
    "CAST(:keys AS text[]), CAST(:headers AS jsonb[]), CAST(:payloads AS bytea[])) "
    "RETURNING 1) SELECT pg_notify(:channel, '') FROM (SELECT 1) AS once"
)


class Outbox:
    """Adds events to the outbox table; rows carry the full topic name, prefix included."""

    def __init__(self, topic_prefix: str = "") -> None:
        self.topic_prefix = topic_prefix

    async def add(self, session: AsyncSession, *envelopes: Envelope[Event]) -> None:
        if not envelopes:
            return
        # The request's trace travels with the row: the relay publishes inside it later.
        trace_headers = current_trace_headers()
        # Core, not the ORM's execute: this runs with every state change, and the ORM's
        # bookkeeping cost more than the statement.
        connection = await session.connection()
        await connection.execute(
            _ADD,
            {
                "ids": [e.id for e in envelopes],
                "topics": [self.topic_prefix + e.topic for e in envelopes],
                "keys": [e.key for e in envelopes],
                "headers": [json.dumps(encode_headers(e) | trace_headers) for e in envelopes],
                "payloads": [encode_body(e) for e in envelopes],
                "channel": OUTBOX_CHANNEL,
            },
        )
