"""One service process's infrastructure: engine, producer, broker, relay, scheduler, tasks.

A composition root builds a `ServiceRuntime`, registers its subscriptions, scheduled jobs and
background tasks, and hands `runtime.lifespan` to its FastAPI app. Nothing connects until the
lifespan starts, and the lifespan stops everything in reverse order on SIGTERM: consumers are
paused and drained, their last offsets committed, then the relay finishes its batch.

Every consumed event is handled in a unit of work that has already marked it in the inbox, so
a redelivered event never reaches the handler twice; the handler changes state, the runtime
commits (state, inbox row and raised events in one transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar, overload

from aiokafka import AIOKafkaProducer
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLScram256, SASLScram512
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mooring.db.engine import create_engine, create_session_factory, ping
from mooring.db.migrate import upgrade
from mooring.events.base import Envelope, Event
from mooring.messaging.consumer import BatchEventConsumer, EventConsumer
from mooring.messaging.offsets import OffsetCommitter
from mooring.messaging.outbox import Outbox
from mooring.messaging.relay import OutboxRelay, create_idempotent_producer
from mooring.messaging.topics import ensure_contract_topics
from mooring.service.gauges import GaugeReader
from mooring.service.metrics import Metrics
from mooring.service.scheduler import Job, JobContext, JobRun, Scheduler
from mooring.service.settings import ServiceSettings
from mooring.service.subscriptions import InFlight, PartitionDelays, batch_entry, single_entry
from mooring.service.tracing import configure_tracing
from mooring.settings import KafkaSettings
from mooring.uow.base import UnitOfWork
from mooring.uow.sql import SqlUnitOfWork, UnitOfWorkDeps
from mooring.vault import Vault

__all__ = ["Readiness", "ServiceRuntime"]

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
U = TypeVar("U", bound=UnitOfWork)
_CHECK_TIMEOUT_S = 2.0
_RELAY_TASK = "outbox-relay"
_OFFSETS_TASK = "offset-committer"
_SCHEDULER_TASK = "scheduler"

Hook = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class _Subscription:
    model: type[Event]
    handler: Callable[[Any, Any], Awaitable[None]]
    group: str
    batch: int | None  # max records per batch, or None for one record at a time


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, str]


class ServiceRuntime(Generic[U]):
    @overload
    def __init__(
        self: ServiceRuntime[SqlUnitOfWork], name: str, settings: ServiceSettings
    ) -> None: ...

    @overload
    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        *,
        unit_of_work: Callable[[UnitOfWorkDeps], U],
        needs_vault: bool = False,
    ) -> None: ...

    def __init__(
        self,
        name: str,
        settings: ServiceSettings,
        *,
        unit_of_work: Callable[[UnitOfWorkDeps], Any] = SqlUnitOfWork,
        needs_vault: bool = False,
    ) -> None:
        self.name = name
        self.settings = settings
        self.metrics = Metrics(service=name)
        configure_tracing(name, settings.tracing)
        self.engine: AsyncEngine = create_engine(settings.database, application_name=name)
        self.sessions: async_sessionmaker[AsyncSession] = create_session_factory(self.engine)
        self.outbox = Outbox(settings.kafka.topic_prefix)
        # Built when keys are configured; a service that needs it and has none refuses to
        # start (not to be built: `make openapi` builds every app without any secret).
        self.vault: Vault | None = (
            Vault.from_settings(settings.vault) if settings.vault.keys.get_secret_value() else None
        )
        self._needs_vault = needs_vault
        self._uow_deps = UnitOfWorkDeps(
            sessions=self.sessions, outbox=self.outbox, source=f"mooring/{name}", vault=self.vault
        )
        self._unit_of_work = unit_of_work
        self.scheduler = Scheduler(
            service=name,
            libpq_url=settings.database.libpq_url,
            metrics=self.metrics,
            poll_s=settings.scheduler_poll_s,
        )
        self._subscriptions: list[_Subscription] = []
        self._background: list[tuple[str, Hook]] = []
        self._on_start: list[Hook] = []
        self._on_stop: list[Hook] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._crashed: set[str] = set()
        self._producer: AIOKafkaProducer | None = None
        self._relay_producer: AIOKafkaProducer | None = None
        self._broker: KafkaBroker | None = None
        self._subscribers: list[tuple[str, Any]] = []
        self.relay: OutboxRelay | None = None
        self._offsets = OffsetCommitter(settings.consumer.commit_interval_ms / 1000)
        self._export_accounts = False
        self._in_flight = InFlight()
        self._delays = PartitionDelays(settings.consumer)

    # -- wiring (composition root, before start) --------------------------------------------

    def unit_of_work(self) -> U:
        """A new unit of work (one transaction) on this service's database."""
        uow: U = self._unit_of_work(self._uow_deps)
        return uow

    def subscribe(
        self,
        model: type[E],
        handler: Callable[[Envelope[E], U], Awaitable[None]],
        *,
        group: str | None = None,
    ) -> None:
        """Consume `model`'s topic one record at a time in `group` (default: `self.group`).

        The handler gets the event and a unit of work in which the event is already marked as
        handled; the runtime commits after it returns. It may raise `RetryLater` (a dependency
        is down) or `RejectEvent` (the event can never apply).
        """
        self._subscriptions.append(_Subscription(model, handler, group or self.group, batch=None))

    def subscribe_batch(
        self,
        model: type[E],
        handler: Callable[[Sequence[Envelope[E]], U], Awaitable[None]],
        *,
        group: str | None = None,
        max_records: int = 500,
    ) -> None:
        """Consume in fetched batches: one handler call, one transaction and one offset commit
        per batch; the handler gets only the events this group has not handled before.

        For effects that can be applied to many events in one transaction (projections); the
        throughput of the per-record path is bounded by a transaction per record.
        """
        self._subscriptions.append(
            _Subscription(model, handler, group or self.group, batch=max_records)
        )

    def schedule(
        self,
        name: str,
        job: Callable[[JobContext], Awaitable[None]],
        *,
        every: timedelta,
        offset: timedelta = timedelta(0),
    ) -> None:
        """Run `job` once per tick of `every` across all replicas; on demand by `name` too."""
        self.scheduler.add(Job(name=name, every=every, fn=job, offset=offset))

    def consumed_events(self) -> dict[str, str]:
        """Event type -> consumer group, for each subscription (the AsyncAPI document)."""
        return {sub.model.event_type: sub.group for sub in self._subscriptions}

    @property
    def group(self) -> str:
        """The service's consumer group: one per environment sharing the cluster."""
        return self.settings.consumer_group or self.settings.kafka.topic_prefix + self.name

    def background(self, name: str, job: Hook) -> None:
        self._background.append((name, job))

    def export_account_counts(self) -> None:
        """Export `mooring_accounts{platform,status}`; one service per deployment should."""
        self._export_accounts = True

    def on_start(self, hook: Hook) -> None:
        """Run `hook` when the process starts (before consumers, jobs or requests run)."""
        self._on_start.append(hook)

    def on_stop(self, hook: Hook) -> None:
        """Run `hook` when the process stops (after consumers and jobs have stopped); also
        after a start that failed half-way, so it must cope with what never started."""
        self._on_stop.append(hook)

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

    def _check_vault(self) -> None:
        if self._needs_vault and self.vault is None:
            raise RuntimeError(
                f"{self.name} reads and writes account secrets: set MOORING_VAULT_KEYS "
                "(and MOORING_VAULT_CURRENT_KEY_ID) before starting it"
            )

    async def _start(self) -> None:
        settings = self.settings
        self._check_vault()
        if settings.migrate_on_start:
            await asyncio.to_thread(upgrade, settings.database)
        await ping(self.engine)
        for hook in self._on_start:
            await hook()
        kafka = settings.kafka
        if kafka.create_topics:
            await ensure_contract_topics(kafka)
        # The service's own identity writes its dead letters; the relay writes every service's
        # events, under an identity of its own when one is configured.
        self._producer = create_idempotent_producer(
            kafka.bootstrap_servers, client_id=self.name, options=kafka.client_options()
        )
        await self._producer.start()
        self._relay_producer = self._producer
        if kafka.relay_sasl_username and settings.relay_enabled:
            self._relay_producer = create_idempotent_producer(
                kafka.bootstrap_servers,
                client_id=f"{self.name}-relay",
                options=kafka.client_options(relay=True),
            )
            await self._relay_producer.start()
        self._broker = self._build_broker()
        await self._broker.start()
        self._spawn(_OFFSETS_TASK, self._offsets.run)
        if settings.relay_enabled:
            relayed = self.metrics.relayed.labels(self.name)
            self.relay = OutboxRelay(
                self.engine,
                self._relay_producer,
                listen_url=settings.database.libpq_url,
                on_published=relayed.inc,
                batch_size=settings.relay_batch_size,
            )
            self._spawn(_RELAY_TASK, self._run_relay)
        if self.scheduler.jobs and settings.scheduler_enabled:
            self._spawn(_SCHEDULER_TASK, self.scheduler.run)
        for name, job in self._background:
            self._spawn(name, job)
        gauges = GaugeReader(
            service=self.name,
            engine=self.engine,
            metrics=self.metrics,
            consumers=lambda: list(self._subscribers),
            outbox=True,  # shared table: every service sees the same backlog (alert on max)
            accounts=self._export_accounts,
            kafka=kafka,
            interval_s=settings.gauge_interval_s,
        )
        self._spawn("gauges", gauges.run)
        logger.info("service started", extra={"subscriptions": len(self._subscriptions)})

    async def stop(self) -> None:
        # Consumers first: paused, so nothing new starts, and drained, so what runs finishes and
        # its offset is committed by the last flush; then the relay finishes its batch (a batch
        # cut off between publish and mark would be published twice); then the rest stops.
        await self._stop_consumers()
        await self._stop_tasks()
        for producer in {id(p): p for p in (self._relay_producer, self._producer) if p}.values():
            await producer.stop()
        self._relay_producer = self._producer = None
        await self._run_stop_hooks()
        await self.engine.dispose()
        logger.info("service stopped")

    async def _stop_consumers(self) -> None:
        if self._broker is None:
            return
        for _, subscriber in self._subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if consumer is not None:
                with contextlib.suppress(Exception):
                    consumer.pause(*consumer.assignment())
        self._delays.cancel_all()
        if not await self._in_flight.wait_idle(self.settings.shutdown_timeout_s):
            logger.warning("records still in flight at shutdown; they will be redelivered")
        await self._offsets.flush()
        await self._broker.stop()
        self._broker = None
        self._subscribers.clear()

    async def _stop_tasks(self) -> None:
        timeout = self.settings.shutdown_timeout_s
        if self.relay is not None:
            self.relay.stop()
        relay_tasks = [t for n, t in self._tasks.items() if n == _RELAY_TASK]
        if relay_tasks:
            await asyncio.wait(relay_tasks, timeout=timeout)
        for task in self._tasks.values():
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks.values(), timeout=timeout)
        self._tasks.clear()

    async def _run_stop_hooks(self) -> None:
        for hook in reversed(self._on_stop):
            try:
                await hook()
            except Exception:
                logger.exception("stop hook failed")

    async def run_job(
        self, name: str, *, on_progress: Callable[[Mapping[str, Any]], None] = lambda _: None
    ) -> JobRun:
        """Run one scheduled job now, in this process, without consumers or the relay.

        For the command line (`python -m <service> job <name>`): what the job emits waits in the
        outbox for the running services' relays.
        """
        self._check_vault()
        await ping(self.engine)
        try:
            for hook in self._on_start:
                await hook()
            return await self.scheduler.run_now(name, on_progress=on_progress)
        finally:
            await self._run_stop_hooks()
            await self.engine.dispose()

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
            graceful_timeout=self.settings.shutdown_timeout_s,
            security=_broker_security(self.settings.kafka),
        )
        for sub in self._subscriptions:
            topic = self.settings.kafka.topic_prefix + sub.model.event_type
            options: dict[str, Any] = {
                "group_id": sub.group,
                "auto_offset_reset": "earliest",
                "decoder": _keep_raw,
            }
            common: dict[str, Any] = {
                "model": sub.model,
                "group": sub.group,
                "producer": self.producer,
                "settings": self.settings.consumer,
                "on_outcome": self.metrics.message_outcome,
            }
            if sub.batch is None:
                # MANUAL: the entry records each offset once its effect is committed and the
                # OffsetCommitter commits them in the background; a record that raised (the
                # infrastructure is down, or even dead-lettering failed) is rewound to instead.
                subscriber = broker.subscriber(topic, ack_policy=AckPolicy.MANUAL, **options)
                entry = single_entry(
                    EventConsumer(**common, handler=self._deduplicated(sub, topic)),
                    offsets=self._offsets,
                    in_flight=self._in_flight,
                    delays=self._delays,
                    on_outcome=self.metrics.message_outcome,
                )
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
                entry = batch_entry(
                    BatchEventConsumer(**common, handler=self._deduplicated_batch(sub, topic)),
                    in_flight=self._in_flight,
                    settings=self.settings.consumer,
                    on_outcome=self.metrics.message_outcome,
                )
            entry.__name__ = f"on_{sub.model.event_type.replace('.', '_')}"
            subscriber(entry)
            self._subscribers.append((topic, subscriber))
        return broker

    def _deduplicated(
        self, sub: _Subscription, topic: str
    ) -> Callable[[Envelope[Any]], Awaitable[None]]:
        async def handle(envelope: Envelope[Any]) -> None:
            async with self.unit_of_work() as uow:
                if not await uow.first_delivery(sub.group, envelope.id, envelope.source):
                    self.metrics.message_outcome(topic, "duplicate")
                    return
                await sub.handler(envelope, uow)
                await uow.commit()

        return handle

    def _deduplicated_batch(
        self, sub: _Subscription, topic: str
    ) -> Callable[[Sequence[Envelope[Any]]], Awaitable[None]]:
        async def handle(envelopes: Sequence[Envelope[Any]]) -> None:
            async with self.unit_of_work() as uow:
                fresh = await uow.first_deliveries(
                    sub.group, [e.id for e in envelopes], [e.source for e in envelopes]
                )
                todo: list[Envelope[Any]] = []
                for envelope in envelopes:  # a copy twice in one batch is handled once
                    if envelope.id in fresh:
                        fresh.discard(envelope.id)
                        todo.append(envelope)
                if skipped := len(envelopes) - len(todo):
                    self.metrics.messages.labels(self.name, topic, "duplicate").inc(skipped)
                if todo:
                    await sub.handler(todo, uow)
                await uow.commit()

        return handle

    async def _run_relay(self) -> None:
        assert self.relay is not None  # noqa: S101 - set just before spawning
        await self.relay.run()

    def _spawn(self, name: str, job: Hook) -> None:
        async def guarded() -> None:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                self._crashed.add(name)
                logger.exception("background task crashed", extra={"task": name})

        self._tasks[name] = asyncio.create_task(guarded(), name=f"{self.name}:{name}")


def _broker_security(kafka: KafkaSettings) -> BaseSecurity | None:
    """FastStream's form of `KafkaSettings.client_options` for the consumers."""
    if kafka.security_protocol == "PLAINTEXT":
        return None
    use_ssl = kafka.security_protocol in ("SSL", "SASL_SSL")
    context = kafka.ssl_context() if use_ssl else None
    if not kafka.security_protocol.startswith("SASL"):
        return BaseSecurity(ssl_context=context, use_ssl=use_ssl)
    scram = SASLScram512 if kafka.sasl_mechanism == "SCRAM-SHA-512" else SASLScram256
    return scram(
        username=kafka.sasl_username,
        password=kafka.sasl_password.get_secret_value(),
        ssl_context=context,
        use_ssl=use_ssl,
    )


async def _keep_raw(message: Any) -> Any:
    """Skip FastStream's JSON decoding: EventConsumer decodes, so bad JSON is dead-lettered."""
    return message.body


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
