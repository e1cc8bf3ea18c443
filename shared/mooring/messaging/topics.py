"""Create every topic with explicit partitions at start-up (the broker does not auto-create)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from mooring.events import ALL_EVENTS, dlq_topic

__all__ = ["contract_topics", "ensure_topics"]

logger = logging.getLogger(__name__)


def contract_topics(prefix: str = "") -> list[str]:
    """Every event topic and its dead-letter topic."""
    return [prefix + t for e in ALL_EVENTS for t in (e.event_type, dlq_topic(e.event_type))]


async def ensure_topics(
    bootstrap_servers: str,
    topics: Iterable[str],
    *,
    partitions: int,
    request_timeout_ms: int,
    options: Mapping[str, Any] | None = None,
) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers,
        request_timeout_ms=request_timeout_ms,
        **dict(options or {}),
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in dict.fromkeys(topics) if t not in existing]
        if not missing:
            return
        response = await admin.create_topics(
            [NewTopic(name=t, num_partitions=partitions, replication_factor=1) for t in missing]
        )
        for name, code, message in getattr(response, "topic_errors", ()):
            if code not in (0, TopicAlreadyExistsError.errno):
                raise RuntimeError(f"creating topic {name} failed: {code} {message}")
        logger.info("created topics", extra={"topics": missing, "partitions": partitions})
    finally:
        await admin.close()
