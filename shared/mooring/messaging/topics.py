"""Create every topic with explicit partitions (the broker does not auto-create).

Services do it at start in development (`KAFKA_CREATE_TOPICS`); on a shared cluster an
administrator's job runs `python -m mooring.messaging.topics` once, with the admin's
credentials and the counts (`KAFKA_TOPIC_PARTITIONS`, `KAFKA_TOPIC_REPLICATION_FACTOR`,
`KAFKA_TOPIC_MIN_INSYNC_REPLICAS`) in the usual KAFKA_* variables. Both go through
`ensure_contract_topics`, so what a service makes and what the job makes cannot differ.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from mooring.events import ALL_EVENTS, dlq_topic

if TYPE_CHECKING:
    from mooring.settings import KafkaSettings

__all__ = ["contract_topics", "ensure_contract_topics", "ensure_topics"]

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
    replication_factor: int = 1,
    configs: Mapping[str, str] | None = None,
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
            [
                NewTopic(
                    name=t,
                    num_partitions=partitions,
                    replication_factor=replication_factor,
                    topic_configs=dict(configs or {}),
                )
                for t in missing
            ]
        )
        for name, code, message in getattr(response, "topic_errors", ()):
            if code not in (0, TopicAlreadyExistsError.errno):
                raise RuntimeError(f"creating topic {name} failed: {code} {message}")
        logger.info("created topics", extra={"topics": missing, "partitions": partitions})
    finally:
        await admin.close()


async def ensure_contract_topics(kafka: KafkaSettings) -> list[str]:
    """Every contract topic under the settings' prefix, with their partitions, copies and
    `min.insync.replicas`; the topics' names."""
    topics = contract_topics(kafka.topic_prefix)
    await ensure_topics(
        kafka.bootstrap_servers,
        topics,
        partitions=kafka.topic_partitions,
        request_timeout_ms=kafka.request_timeout_ms,
        options=kafka.client_options(),
        replication_factor=kafka.topic_replication_factor,
        configs=kafka.topic_configs(),
    )
    return topics


def main(argv: list[str] | None = None) -> int:
    import argparse  # noqa: PLC0415
    import asyncio  # noqa: PLC0415

    from mooring.settings import KafkaSettings  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m mooring.messaging.topics")
    parser.add_argument(
        "--partitions", type=int, default=None, help="default: KAFKA_TOPIC_PARTITIONS"
    )
    parser.add_argument(
        "--replication-factor",
        type=int,
        default=None,
        help="default: KAFKA_TOPIC_REPLICATION_FACTOR",
    )
    parser.add_argument(
        "--min-insync-replicas",
        type=int,
        default=None,
        help="default: KAFKA_TOPIC_MIN_INSYNC_REPLICAS (unset: the broker's)",
    )
    args = parser.parse_args(argv)
    flags = {
        "topic_partitions": args.partitions,
        "topic_replication_factor": args.replication_factor,
        "topic_min_insync_replicas": args.min_insync_replicas,
    }
    kafka = KafkaSettings().model_copy(update={k: v for k, v in flags.items() if v})
    topics = asyncio.run(ensure_contract_topics(kafka))
    print(f"{len(topics)} topics in place")  # noqa: T201 - a command's report
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
