"""Replay a dead-letter topic: `python -m mooring.messaging.dlq_replay <topic>.dlq [--limit N]`.

Each record goes back to the topic it came from, without the `dlq-*` headers, so every consumer
group of that topic sees it again; idempotent consumers (inbox by `ce_id`) make the groups that had
already processed it skip it. Progress is committed per batch under the group
`mooring-dlq-replay`, so a replay interrupted half-way resumes instead of starting over.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from mooring.messaging.consumer import DLQ_HEADER_PREFIX
from mooring.settings import KafkaSettings

__all__ = ["ReplayReport", "replay"]

REPLAY_GROUP = "mooring-dlq-replay"


@dataclass(frozen=True)
class ReplayReport:
    replayed: int
    by_topic: dict[str, int]


async def replay(
    settings: KafkaSettings,
    dlq: str,
    *,
    limit: int | None = None,
    group: str = REPLAY_GROUP,
    progress: bool = False,
) -> ReplayReport:
    if not dlq.endswith(".dlq"):
        raise ValueError(f"{dlq!r} is not a dead-letter topic (expected '<topic>.dlq')")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **settings.client_options(),
    )
    # Replayed events go back to their original topics: the writer the relay is.
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_idempotence=True,
        **settings.client_options(relay=True),
    )
    await consumer.start()
    await producer.start()
    replayed, by_topic = 0, dict[str, int]()
    try:
        partitions = [TopicPartition(dlq, p) for p in await _partitions(settings, dlq)]
        consumer.assign(partitions)
        end = await consumer.end_offsets(partitions)
        while limit is None or replayed < limit:
            positions = {tp: await consumer.position(tp) for tp in partitions}
            if all(positions[tp] >= end[tp] for tp in partitions):
                break
            batches = await consumer.getmany(timeout_ms=1000, max_records=100)
            sends = []
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= end[tp] or (limit is not None and replayed >= limit):
                        consumer.seek(tp, record.offset)
                        break
                    headers = dict(record.headers)
                    target = headers.get("dlq-original-topic", b"").decode() or dlq[: -len(".dlq")]
                    kept = [
                        (k, v) for k, v in record.headers if not k.startswith(DLQ_HEADER_PREFIX)
                    ]
                    sends.append(
                        await producer.send(
                            target,
                            value=record.value,
                            key=record.key,
                            headers=[
                                *kept,
                                ("dlq-replayed-from", f"{dlq}@{record.offset}".encode()),
                            ],
                        )
                    )
                    replayed += 1
                    by_topic[target] = by_topic.get(target, 0) + 1
            await asyncio.gather(*sends)
            await consumer.commit()
            if progress:
                total = sum(end[tp] for tp in partitions)
                print(f"\rreplayed {replayed} (dlq high-water {total})", end="", file=sys.stderr)
    finally:
        await consumer.stop()
        await producer.stop()
    if progress:
        print(file=sys.stderr)
    return ReplayReport(replayed=replayed, by_topic=by_topic)


async def _partitions(settings: KafkaSettings, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, **settings.client_options()
    )
    await admin.start()
    try:
        (description,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if description.get("error_code") or not description.get("partitions"):
        raise ValueError(f"topic {topic!r} does not exist")
    return sorted(p["partition"] for p in description["partitions"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mooring.messaging.dlq_replay")
    parser.add_argument("dlq_topic")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        report = asyncio.run(
            replay(KafkaSettings(), args.dlq_topic, limit=args.limit, progress=True)
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for topic, count in sorted(report.by_topic.items()):
        print(f"{count} record(s) back to {topic}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
