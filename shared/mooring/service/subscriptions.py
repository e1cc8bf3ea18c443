"""The Kafka entry points the runtime registers with FastStream, and what they share.

An entry hands a raw record (or a fetched batch) to the consumer, records the offset for the
background committer once the effect is committed, rewinds on failure, and delays a record whose
handler raised `RetryLater` by pausing its partition: later records of the same key wait behind
it (per-key order holds), other partitions keep flowing. `InFlight` lets shutdown wait for the
entries that are running before the final offset flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiokafka import TopicPartition
from faststream.kafka.annotations import KafkaMessage

from mooring.messaging.consumer import BatchEventConsumer, EventConsumer
from mooring.messaging.errors import RetryLater
from mooring.messaging.offsets import OffsetCommitter
from mooring.service.tracing import consumer_span
from mooring.settings import ConsumerSettings

__all__ = ["InFlight", "PartitionDelays", "batch_entry", "single_entry"]

logger = logging.getLogger(__name__)

Entry = Callable[[KafkaMessage], Awaitable[None]]
Outcome = Callable[[str, str], None]


class InFlight:
    """How many records are being handled right now, and a way to wait until none is."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    async def wait_idle(self, timeout_s: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        return self._idle.is_set()


class PartitionDelays:
    """Delays a record by rewinding to it and pausing its partition until it is due again."""

    def __init__(self, settings: ConsumerSettings) -> None:
        self._initial_s = settings.retry_later_initial_ms / 1000
        self._max_s = settings.retry_later_max_ms / 1000
        # (consumer, partition) -> (offset being delayed, how many times so far)
        self._tries: dict[tuple[int, TopicPartition], tuple[int, int]] = {}
        self._timers: dict[tuple[int, TopicPartition], asyncio.TimerHandle] = {}

    def delay(self, consumer: Any, record: Any, error: RetryLater) -> float:
        tp = TopicPartition(record.topic, record.partition)
        key = (id(consumer), tp)
        offset, tries = self._tries.get(key, (record.offset, 0))
        tries = tries + 1 if offset == record.offset else 1
        self._tries[key] = (record.offset, tries)
        if error.after is not None:
            seconds = min(max(error.after.total_seconds(), 0.0), self._max_s)
        else:
            seconds = min(self._initial_s * 2 ** (tries - 1), self._max_s)
        seconds *= random.uniform(0.9, 1.1)  # replicas that failed together retry apart
        consumer.seek(tp, record.offset)
        consumer.pause(tp)
        previous = self._timers.pop(key, None)
        if previous is not None:
            previous.cancel()
        self._timers[key] = asyncio.get_running_loop().call_later(
            seconds, self._resume, consumer, tp
        )
        logger.warning(
            "record delayed: a dependency is unavailable",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "tries": tries,
                "delay_s": round(seconds, 3),
                "reason": error.reason,
            },
        )
        return seconds

    def done(self, consumer: Any, topic: str, partition: int) -> None:
        self._tries.pop((id(consumer), TopicPartition(topic, partition)), None)

    def _resume(self, consumer: Any, tp: TopicPartition) -> None:
        self._timers.pop((id(consumer), tp), None)
        # A partition taken away by a rebalance meanwhile is no longer ours to resume.
        with contextlib.suppress(Exception):
            if tp in consumer.assignment():
                consumer.resume(tp)

    def cancel_all(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()


def single_entry(
    consumer: EventConsumer[Any],
    *,
    offsets: OffsetCommitter,
    in_flight: InFlight,
    delays: PartitionDelays,
    on_outcome: Outcome,
) -> Entry:
    # FastStream reads a subscriber's signature to decide what to inject, so the collaborators
    # are bound by this closure rather than defaulted parameters (it would take those for body
    # fields).
    async def on_message(msg: KafkaMessage) -> None:
        record: Any = msg.raw_message
        with in_flight.track(), consumer_span(record.topic, record.headers):
            try:
                await consumer.process(record)
            except RetryLater as error:
                delays.delay(msg.consumer, record, error)
                on_outcome(record.topic, "retry_later")
                return
            except BaseException:
                # Not done (infrastructure down, or even dead-lettering failed): read it again.
                msg.consumer.seek(TopicPartition(record.topic, record.partition), record.offset)
                raise
            delays.done(msg.consumer, record.topic, record.partition)
            offsets.processed(msg.consumer, record.topic, record.partition, record.offset)

    return on_message


def batch_entry(
    consumer: BatchEventConsumer[Any],
    *,
    in_flight: InFlight,
    settings: ConsumerSettings,
    on_outcome: Outcome,
) -> Entry:
    async def on_batch(msg: KafkaMessage) -> None:
        records: Any = msg.raw_message
        with in_flight.track():
            try:
                await consumer.process_batch(records)
            except RetryLater as error:
                # The whole batch is rewound (NACK_ON_ERROR) after the delay; batches feed
                # projections whose only dependency is the database, so this is rare.
                on_outcome(records[0].topic if records else "", "retry_later")
                delay = error.after.total_seconds() if error.after else None
                await asyncio.sleep(min(delay or settings.retry_later_initial_ms / 1000, 30.0))
                raise

    return on_batch
