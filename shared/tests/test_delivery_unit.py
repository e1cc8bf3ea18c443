"""Offsets kept across a failed commit, delayed partitions, in-flight tracking: no broker needed."""

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from mooring.messaging.errors import RetryLater
from mooring.messaging.offsets import OffsetCommitter
from mooring.service.subscriptions import InFlight, PartitionDelays
from mooring.settings import ConsumerSettings

TP = TopicPartition("t", 0)


@dataclass(eq=False)  # hashed by identity, like the real consumer
class FakeConsumer:
    fail_commits: int = 0
    committed: list[dict[TopicPartition, int]] = field(default_factory=list)
    paused: set[TopicPartition] = field(default_factory=set)
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    owned: set[TopicPartition] = field(default_factory=lambda: {TP})

    def assignment(self) -> set[TopicPartition]:
        return self.owned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        await asyncio.sleep(0.01)  # a round trip, during which more records are processed
        if self.fail_commits:
            self.fail_commits -= 1
            raise KafkaConnectionError("coordinator moved")
        self.committed.append(dict(offsets))

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused.difference_update(tps)


@dataclass
class Record:
    offset: int
    topic: str = "t"
    partition: int = 0


async def test_a_commit_the_broker_refused_is_kept_for_the_next_flush() -> None:
    consumer = FakeConsumer(fail_commits=1)
    offsets = OffsetCommitter(interval_s=60)
    offsets.processed(consumer, "t", 0, 41)
    await offsets.flush()
    assert consumer.committed == []
    await offsets.flush()
    assert consumer.committed == [{TP: 42}]


async def test_a_newer_offset_recorded_meanwhile_wins_over_the_kept_one() -> None:
    consumer = FakeConsumer(fail_commits=1)
    offsets = OffsetCommitter(interval_s=60)
    offsets.processed(consumer, "t", 0, 41)
    flushing = asyncio.create_task(offsets.flush())
    await asyncio.sleep(0.001)  # the flush has taken 42 and waits on the broker
    offsets.processed(consumer, "t", 0, 50)
    await flushing
    await offsets.flush()
    assert consumer.committed == [{TP: 51}]


async def test_a_partition_lost_to_a_rebalance_is_not_committed() -> None:
    consumer = FakeConsumer()
    consumer.owned = set()
    offsets = OffsetCommitter(interval_s=60)
    offsets.processed(consumer, "t", 0, 1)
    await offsets.flush()
    assert consumer.committed == []


async def test_a_delayed_record_is_rewound_to_and_its_partition_paused_until_due() -> None:
    settings = ConsumerSettings(retry_later_initial_ms=50, retry_later_max_ms=1000)
    delays, consumer = PartitionDelays(settings), FakeConsumer()
    first = delays.delay(consumer, Record(7), RetryLater("outage"))
    assert consumer.positions[TP] == 7
    assert TP in consumer.paused
    assert 0.04 <= first <= 0.06
    await asyncio.sleep(first + 0.05)
    assert TP not in consumer.paused
    second = delays.delay(consumer, Record(7), RetryLater("still down"))
    assert 0.09 <= second <= 0.11  # doubled for the same record
    asked = delays.delay(consumer, Record(7), RetryLater("429", after=timedelta(seconds=30)))
    assert 0.9 <= asked <= 1.1  # the platform's Retry-After, capped by the settings
    delays.done(consumer, "t", 0)
    delays.cancel_all()
    again = delays.delay(consumer, Record(8), RetryLater("outage"))
    assert again <= 0.06  # a new record starts from the first delay
    delays.cancel_all()


async def test_in_flight_waits_for_running_work_and_gives_up_after_its_timeout() -> None:
    in_flight = InFlight()
    assert await in_flight.wait_idle(0.01)
    release = asyncio.Event()

    async def work() -> None:
        with in_flight.track():
            await release.wait()

    task = asyncio.create_task(work())
    await asyncio.sleep(0)
    assert not await in_flight.wait_idle(0.01)
    release.set()
    assert await in_flight.wait_idle(1)
    await task
