"""One service process's infrastructure: engine, producer, broker, relay, background tasks.

A composition root builds a `ServiceRuntime`, registers its subscriptions and background jobs, and
hands `runtime.lifespan` to its FastAPI app. Nothing connects until the lifespan starts, and the
lifespan stops everything in reverse order on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mooring.db.engine import create_engine, create_session_factory, ping
from mooring.db.migrate import upgrade
from mooring.events.base import Envelope, Event
from mooring.messaging.consumer import EventConsumer
from mooring.messaging.outbox import Outbox
from mooring.messaging.relay import OutboxRelay, create_idempotent_producer
from mooring.messaging.topics import contract_topics, ensure_topics
from mooring.service.metrics import Metrics
from mooring.service.settings import ServiceSettings

__all__ = ["Readiness", "ServiceRuntime"]

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
_CHECK_TIMEOUT_S = 2.0


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
        self._subscriptions: list[tuple[type[Event], Callable[..., Awaitable[None]], str]] = []
        self._background: list[tuple[str, Callable[[], Awaitable[None]]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._producer: AIOKafkaProducer | None = None
        self._broker: KafkaBroker | None = None
        self._subscribers: list[tuple[str, Any]] = []
        self.relay: OutboxRelay | None = None
        self.outbox = Outbox(settings.kafka.topic_prefix)

    # -- wiring (composition root, before start) --------------------------------------------

    def subscribe(
        self,
        model: type[E],
        handler: Callable[[Envelope[E]], Awaitable[None]],
        *,
        group: str | None = None,
    ) -> None:
        """Consume `model`'s topic in consumer group `group` (default: the service name)."""
        self._subscriptions.append((model, handler, group or self.name))

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
        if settings.relay_enabled:
            relayed = self.metrics.relayed.labels(self.name)
            self.relay = OutboxRelay(
                self.engine,
                self._producer,
                listen_url=settings.database.libpq_url,
                on_published=relayed.inc,
            )
            self._spawn("outbox-relay", self._run_relay)
        for name, job in self._background:
            self._spawn(name, job)
        logger.info("service started", extra={"subscriptions": len(self._subscriptions)})

    async def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.settings.shutdown_timeout_s)
        self._tasks.clear()
        if self._broker is not None:
            await self._broker.stop()
            self._broker = None
            self._subscribers.clear()
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
        for model, handler, group in self._subscriptions:
            consumer: EventConsumer[Any] = EventConsumer(
                model=model,
                handler=handler,
                group=group,
                producer=self.producer,
                settings=self.settings.consumer,
                on_outcome=self.metrics.message_outcome,
            )
            # NACK_ON_ERROR: `process` only raises when even dead-lettering failed (broker down);
            # then the offset must not move, so the record is redelivered instead of lost.
            topic = self.settings.kafka.topic_prefix + model.event_type
            subscriber = broker.subscriber(
                topic,
                group_id=group,
                ack_policy=AckPolicy.NACK_ON_ERROR,
                auto_offset_reset="earliest",
                decoder=_keep_raw,
            )
            subscriber(_entrypoint(consumer))
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
                logger.exception("background task crashed", extra={"task": name})

        self._tasks.append(asyncio.create_task(guarded(), name=f"{self.name}:{name}"))


async def _keep_raw(message: Any) -> Any:
    """Skip FastStream's JSON decoding: EventConsumer decodes, so bad JSON is dead-lettered."""
    return message.body


def _entrypoint(consumer: EventConsumer[Any]) -> Callable[[KafkaMessage], Awaitable[None]]:
    async def on_message(msg: KafkaMessage) -> None:
        await consumer.process(msg.raw_message)  # type: ignore[arg-type]

    on_message.__name__ = f"on_{consumer.model.event_type.replace('.', '_')}"
    return on_message


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
