"""One service process's infrastructure: engine, producer, broker, relay, background tasks.

A composition root builds a `ServiceRuntime`, registers its subscriptions and background jobs, and
hands `runtime.lifespan` to its FastAPI app. Nothing connects until the lifespan starts, and the
lifespan stops everything in reverse order on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mooring.db.engine import create_engine, create_session_factory, ping
from mooring.db.migrate import upgrade
from mooring.events.base import Envelope, Event
from mooring.messaging.consumer import BatchEventConsumer, EventConsumer
from mooring.messaging.offsets import OffsetCommitter
from mooring.messaging.outbox import Outbox
from mooring.messaging.relay import OutboxRelay, create_idempotent_producer
from mooring.messaging.topics import contract_topics, ensure_topics
from mooring.service.metrics import Metrics
from mooring.service.settings import ServiceSettings

__all__ = ["Readiness", "ServiceRuntime"]

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
_CHECK_TIMEOUT_S = 2.0
_RELAY_TASK = "outbox-relay"
_OFFSETS_TASK = "offset-committer"


@dataclass(frozen=True)
class _Subscription:
    model: type[Event]
    handler: Callable[..., Awaitable[None]]
    group: str
    batch: int | None  # max records per batch, or None for one record at a time


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, str]


class ServiceRuntime:
    def __init__(self, name: str, settings: ServiceSettings) -> None:
        self.name = name
        self.settings = settings
        self.metrics = Metrics(service=name)
        self.engine: AsyncEngine = create_engine(settings.database, application_name=name)
        self.sessions: async_sessionmaker[AsyncSession] = create_session_factory(self.engine)
        self._subscriptions: list[_Subscription] = []
        self._background: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._crashed: set[str] = set()
        self._producer: AIOKafkaProducer | None = None
        self._broker: KafkaBroker | None = None
        self._subscribers: list[tuple[str, Any]] = []
        self.relay: OutboxRelay | None = None
        self.outbox = Outbox(settings.kafka.topic_prefix)
        self._offsets = OffsetCommitter(settings.consumer.commit_interval_ms / 1000)

    # -- wiring (composition root, before start) --------------------------------------------

    def subscribe(
        self,
        model: type[E],
        handler: Callable[[Envelope[E]], Awaitable[None]],
        *,
        group: str | None = None,
    ) -> None:
        """Consume `model`'s topic one record at a time in `group` (default: `self.group`)."""
        self._subscriptions.append(_Subscription(model, handler, group or self.group, batch=None))

    def subscribe_batch(
        self,
        model: type[E],
        handler: Callable[[Sequence[Envelope[E]]], Awaitable[None]],
        *,
        group: str | None = None,
        max_records: int = 500,
    ) -> None:
        """Consume in fetched batches: one handler call and one offset commit per batch.

        For effects that can be applied to many events in one transaction (projections,
        inbox rows); the throughput of the per-record path is bounded by a commit per record.
        """
        self._subscriptions.append(
            _Subscription(model, handler, group or self.group, batch=max_records)
        )

    @property
    def group(self) -> str:
        """The service's consumer group: one per environment sharing the cluster."""
        return self.settings.consumer_group or self.settings.kafka.topic_prefix + self.name

    def background(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        self._background.append((name, job))

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError(f"{self.name} runtime is not started")
        return self._producer

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Any = None) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()  # release what did start; the lifespan never reaches its finally
            raise

    async def _start(self) -> None:
        settings = self.settings
        if settings.migrate_on_start:
            await asyncio.to_thread(upgrade, settings.database)
        await ping(self.engine)
        await ensure_topics(
            settings.kafka.bootstrap_servers,
            contract_topics(settings.kafka.topic_prefix),
            partitions=settings.kafka.topic_partitions,
            request_timeout_ms=settings.kafka.request_timeout_ms,
        )
        self._producer = create_idempotent_producer(
            settings.kafka.bootstrap_servers, client_id=self.name
        )
        await self._producer.start()
        self._broker = self._build_broker()
        await self._broker.start()
        self._spawn(_OFFSETS_TASK, self._offsets.run)
        if settings.relay_enabled:
            relayed = self.metrics.relayed.labels(self.name)
            self.relay = OutboxRelay(
                self.engine,
                self._producer,
                listen_url=settings.database.libpq_url,
                on_published=relayed.inc,
                batch_size=settings.relay_batch_size,
            )
            self._spawn(_RELAY_TASK, self._run_relay)
        for name, job in self._background:
            self._spawn(name, job)
        logger.info("service started", extra={"subscriptions": len(self._subscriptions)})

    async def stop(self) -> None:
        # Consumers first, so no new effect starts; then the relay finishes its batch (a batch
        # cut off between publish and mark would be published twice); then the rest is cancelled.
        if self._broker is not None:
            await self._offsets.flush()  # what is done is not redelivered after a clean stop
            await self._broker.stop()
            self._broker = None
            self._subscribers.clear()
        if self.relay is not None:
            self.relay.stop()
        relay_tasks = [t for n, t in self._tasks.items() if n == _RELAY_TASK]
        if relay_tasks:
            await asyncio.wait(relay_tasks, timeout=self.settings.shutdown_timeout_s)
        for task in self._tasks.values():
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks.values(), timeout=self.settings.shutdown_timeout_s)
        self._tasks.clear()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await self.engine.dispose()
        logger.info("service stopped")

    async def readiness(self) -> Readiness:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(ping(self.engine), _CHECK_TIMEOUT_S)
            checks["database"] = "ok"
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            checks["database"] = f"unreachable: {type(exc).__name__}"
        broker = self._broker
        if broker is None:
            checks["kafka"] = "not started"
        elif await broker.ping(timeout=_CHECK_TIMEOUT_S):
            checks["kafka"] = "ok"
        else:
            checks["kafka"] = "unreachable"
        for name in self._tasks:
            # A background job (relay, sweeper, scheduler) that died makes the process useless
            # even if its consumers still run; say so instead of answering ready.
            checks[f"task:{name}"] = "crashed" if name in self._crashed else "ok"
        for topic, subscriber in self._subscribers:
            checks[f"subscription:{topic}"] = (
                "ok" if _group_joined(subscriber) else "waiting for partition assignment"
            )
        ready = all(v == "ok" for v in checks.values())
        self.metrics.ready.labels(self.name).set(1 if ready else 0)
        return Readiness(ready=ready, checks=checks)

    # -- internals ---------------------------------------------------------------------------

    def _build_broker(self) -> KafkaBroker:
        broker = KafkaBroker(
            self.settings.kafka.bootstrap_servers,
            client_id=self.name,
            logger=logging.getLogger(f"{self.name}.broker"),
        )
        for sub in self._subscriptions:
            common: dict[str, Any] = {
                "model": sub.model,
                "group": sub.group,
                "producer": self.producer,
                "settings": self.settings.consumer,
                "on_outcome": self.metrics.message_outcome,
            }
            topic = self.settings.kafka.topic_prefix + sub.model.event_type
            options: dict[str, Any] = {
                "group_id": sub.group,
                "auto_offset_reset": "earliest",
                "decoder": _keep_raw,
            }
            if sub.batch is None:
                # MANUAL: the entry records each offset once its effect is committed and the
                # OffsetCommitter commits them in the background; a record that raised (the
                # infrastructure is down, or even dead-lettering failed) is rewound to instead.
                subscriber = broker.subscriber(topic, ack_policy=AckPolicy.MANUAL, **options)
                entry = _single_entry(EventConsumer(**common, handler=sub.handler), self._offsets)
            else:
                # NACK_ON_ERROR: one commit per batch after the batch's effects; a batch that
                # raised is rewound to its first record, so nothing is lost.
                subscriber = broker.subscriber(
                    topic,
                    batch=True,
                    max_records=sub.batch,
                    batch_timeout_ms=50,
                    ack_policy=AckPolicy.NACK_ON_ERROR,
                    **options,
                )
                entry = _batch_entry(BatchEventConsumer(**common, handler=sub.handler))
            entry.__name__ = f"on_{sub.model.event_type.replace('.', '_')}"
            subscriber(entry)
            self._subscribers.append((topic, subscriber))
        return broker

    async def _run_relay(self) -> None:
        assert self.relay is not None  # noqa: S101 - set just before spawning
        await self.relay.run()

    def _spawn(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        async def guarded() -> None:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._crashed.add(name)
                logger.exception("background task crashed", extra={"task": name})

        self._tasks[name] = asyncio.create_task(guarded(), name=f"{self.name}:{name}")


async def _keep_raw(message: Any) -> Any:
    """Skip FastStream's JSON decoding: EventConsumer decodes, so bad JSON is dead-lettered."""
    return message.body


# FastStream reads a subscriber's signature to decide what to inject, so the consumer is bound
# by a closure rather than a defaulted parameter (which it would take for a body field).
def _single_entry(
    consumer: EventConsumer[Any], offsets: OffsetCommitter
) -> Callable[[KafkaMessage], Awaitable[None]]:
    async def on_message(msg: KafkaMessage) -> None:
        record: Any = msg.raw_message
        try:
            await consumer.process(record)
        except BaseException:
            # Not done (infrastructure down, or even dead-lettering failed): read it again.
            msg.consumer.seek(
                partition=TopicPartition(record.topic, record.partition), offset=record.offset
            )
            raise
        offsets.processed(msg.consumer, record.topic, record.partition, record.offset)

    return on_message


def _batch_entry(consumer: BatchEventConsumer[Any]) -> Callable[[KafkaMessage], Awaitable[None]]:
    async def on_batch(msg: KafkaMessage) -> None:
        await consumer.process_batch(msg.raw_message)

    return on_batch


def _group_joined(subscriber: Any) -> bool:
    """Joined its group with a settled assignment (possibly empty: an idle standby replica)."""
    consumer = getattr(subscriber, "consumer", None)
    if consumer is None:
        return False
    subscription = consumer._subscription.subscription  # noqa: SLF001 - aiokafka has no public API
    return (
        subscription is not None
        and subscription.assignment is not None
        and not subscription._reassignment_in_progress  # noqa: SLF001
    )
