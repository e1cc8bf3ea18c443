"""The service runtime on the real broker: readiness, idempotent consumers, DLQ and replay."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from mooring.events import AccountConnected, Envelope, utcnow
from mooring.messaging.cloudevents import encode_body, encode_headers
from mooring.messaging.dlq_replay import replay
from mooring.messaging.inbox import first_delivery
from mooring.messaging.relay import OutboxRelay
from mooring.service.runtime import ServiceRuntime
from mooring.service.settings import ServiceSettings
from mooring.settings import ConsumerSettings, DatabaseSettings, KafkaSettings
from mooring.testing import header, read_topic, unique
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

pytestmark = [pytest.mark.integration, pytest.mark.connected]


def event() -> Envelope[AccountConnected]:
    return Envelope(
        payload=AccountConnected(
            account_id=uuid.uuid4(),
            workspace_id=uuid.uuid4(),
            platform="bluesky",
            platform_account_id="did:plc:abc",
            connected_at=utcnow(),
        ),
        source="test",
    )


class Effects:
    """A consumer whose effect is a row, written in one transaction with its inbox entry."""

    def __init__(self, engine: AsyncEngine, group: str) -> None:
        self.engine = engine
        self.group = group
        self.failing: set[uuid.UUID] = set()

    async def handle(self, envelope: Envelope[AccountConnected]) -> None:
        if envelope.id in self.failing:
            raise RuntimeError(f"platform unavailable for {envelope.id}")
        async with AsyncSession(self.engine) as session, session.begin():
            if await first_delivery(session, consumer=self.group, event_id=envelope.id):
                await session.execute(
                    text("INSERT INTO test_effects (grp, event_id) VALUES (:g, :e)"),
                    {"g": self.group, "e": envelope.id},
                )

    async def count(self, event_id: uuid.UUID) -> int:
        async with self.engine.connect() as conn:
            return int(
                (
                    await conn.execute(
                        text("SELECT count(*) FROM test_effects WHERE grp = :g AND event_id = :e"),
                        {"g": self.group, "e": event_id},
                    )
                ).scalar_one()
            )

    async def wait_for(self, event_id: uuid.UUID, timeout_s: float = 20) -> int:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            if (n := await self.count(event_id)) > 0:
                return n
            await asyncio.sleep(0.1)
        return 0


@pytest.fixture(scope="module")
async def effects_table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS test_effects (grp text NOT NULL, event_id uuid NOT NULL)"
            )
        )


@pytest.fixture
def settings(database_settings: DatabaseSettings, kafka_settings: KafkaSettings) -> ServiceSettings:
    return ServiceSettings(
        kafka=kafka_settings.model_copy(update={"topic_prefix": unique("rt") + "."}),
        database=database_settings,
        consumer=ConsumerSettings(max_attempts=2, backoff_ms=10),
        migrate_on_start=False,
        relay_enabled=False,
    )


@pytest.fixture
async def runtime(
    settings: ServiceSettings, engine: AsyncEngine, effects_table: None
) -> AsyncIterator[tuple[ServiceRuntime, Effects]]:
    runtime = ServiceRuntime("runtime-test", settings)
    effects = Effects(engine, unique("group"))
    runtime.subscribe(AccountConnected, effects.handle, group=effects.group)
    assert not (await runtime.readiness()).ready  # nothing started yet
    async with runtime.lifespan():
        for _ in range(200):
            if (await runtime.readiness()).ready:
                break
            await asyncio.sleep(0.1)
        yield runtime, effects


async def produce(
    producer: AIOKafkaProducer, topic: str, value: bytes, headers: dict[str, str], key: str
) -> None:
    await producer.send_and_wait(
        topic, value=value, key=key.encode(), headers=[(k, v.encode()) for k, v in headers.items()]
    )


async def test_ready_means_database_broker_and_subscriptions(
    runtime: tuple[ServiceRuntime, Effects],
) -> None:
    readiness = await runtime[0].readiness()
    assert readiness.ready, readiness.checks
    assert readiness.checks["database"] == "ok"
    assert readiness.checks["kafka"] == "ok"
    assert any(
        k.startswith("subscription:") and k.endswith("account.connected") for k in readiness.checks
    )


async def test_duplicates_yield_one_effect(runtime: tuple[ServiceRuntime, Effects]) -> None:
    rt, effects = runtime
    e = event()
    topic = rt.settings.kafka.topic_prefix + "account.connected"
    for _ in range(3):
        await produce(rt.producer, topic, encode_body(e), encode_headers(e), e.key)
    assert await effects.wait_for(e.id) == 1
    await asyncio.sleep(1.0)  # give the copies time to (not) add effects
    assert await effects.count(e.id) == 1


async def test_relay_crash_duplicate_reaches_the_consumer_once(
    runtime: tuple[ServiceRuntime, Effects], engine: AsyncEngine
) -> None:
    rt, effects = runtime
    e = event()
    async with AsyncSession(engine) as session, session.begin():
        await rt.outbox.add(session, e)

    class CrashAfterPublish(OutboxRelay):
        async def _publish(self, rows: Sequence[Any]) -> None:
            await super()._publish(rows)
            raise RuntimeError("killed between publish and mark")

    listen = rt.settings.database.libpq_url
    crashing = CrashAfterPublish(engine, rt.producer, listen_url=listen)
    with pytest.raises(RuntimeError, match="killed"):  # noqa: PT012 - retried until leader
        while True:  # 0 means another process's relay held the lock this round
            await crashing.relay_once()
    while await OutboxRelay(engine, rt.producer, listen_url=listen).relay_once():
        pass
    topic = rt.settings.kafka.topic_prefix + "account.connected"
    copies = await read_topic(
        rt.settings.kafka.bootstrap_servers,
        topic,
        until=lambda rs: sum(header(r, "ce_id") == str(e.id) for r in rs) >= 2,
    )
    assert sum(header(r, "ce_id") == str(e.id) for r in copies) == 2
    assert await effects.wait_for(e.id) == 1
    await asyncio.sleep(1.0)
    assert await effects.count(e.id) == 1


async def test_malformed_goes_to_dlq_with_its_error_and_the_next_message_is_processed(
    runtime: tuple[ServiceRuntime, Effects],
) -> None:
    rt, effects = runtime
    topic = rt.settings.kafka.topic_prefix + "account.connected"
    bad, good = event(), event()
    await produce(rt.producer, topic, b'{"account_id": ', encode_headers(bad), bad.key)
    await produce(rt.producer, topic, encode_body(good), encode_headers(good), good.key)
    assert await effects.wait_for(good.id) == 1
    dead = await read_topic(
        rt.settings.kafka.bootstrap_servers,
        topic + ".dlq",
        until=lambda rs: any(header(r, "ce_id") == str(bad.id) for r in rs),
        settle_s=0,
    )
    (record,) = [r for r in dead if header(r, "ce_id") == str(bad.id)]
    assert "body is not JSON" in (header(record, "dlq-error") or "")
    assert header(record, "dlq-error-type") == "MalformedEventError"
    assert header(record, "dlq-original-topic") == topic
    assert header(record, "dlq-consumer-group") == effects.group
    assert header(record, "dlq-attempts") == "0"
    assert record.value == b'{"account_id": '


async def test_a_handler_failing_past_its_retries_is_dead_lettered_and_replay_redelivers_it(
    runtime: tuple[ServiceRuntime, Effects],
) -> None:
    rt, effects = runtime
    topic = rt.settings.kafka.topic_prefix + "account.connected"
    flaky, after = event(), event()
    effects.failing.add(flaky.id)
    await produce(rt.producer, topic, encode_body(flaky), encode_headers(flaky), flaky.key)
    await produce(rt.producer, topic, encode_body(after), encode_headers(after), after.key)
    assert await effects.wait_for(after.id) == 1  # the consumer moved on
    dead = await read_topic(
        rt.settings.kafka.bootstrap_servers,
        topic + ".dlq",
        until=lambda rs: any(header(r, "ce_id") == str(flaky.id) for r in rs),
        settle_s=0,
    )
    (record,) = [r for r in dead if header(r, "ce_id") == str(flaky.id)]
    assert header(record, "dlq-attempts") == "2"
    assert "platform unavailable" in (header(record, "dlq-error") or "")
    assert await effects.count(flaky.id) == 0

    effects.failing.clear()  # the cause is fixed; the operator replays the DLQ
    group = unique("replay")
    report = await replay(rt.settings.kafka, topic + ".dlq", group=group)
    assert report.by_topic == {topic: 1}
    assert await effects.wait_for(flaky.id) == 1
    again = await replay(rt.settings.kafka, topic + ".dlq", group=group)
    assert again.replayed == 0  # progress was committed: a second run does not replay twice


async def test_an_event_written_through_the_outbox_reaches_the_handler_via_the_runtime_relay(
    settings: ServiceSettings, engine: AsyncEngine, effects_table: None
) -> None:
    runtime = ServiceRuntime("relay-test", settings.model_copy(update={"relay_enabled": True}))
    effects = Effects(engine, unique("group"))
    runtime.subscribe(AccountConnected, effects.handle, group=effects.group)
    e = event()
    async with runtime.lifespan():
        async with AsyncSession(engine) as session, session.begin():
            await runtime.outbox.add(session, e)
        assert await effects.wait_for(e.id) == 1
        registry = runtime.metrics.registry
        assert (
            registry.get_sample_value("mooring_outbox_relayed_total", {"service": "relay-test"})
            or 0
        ) >= 1
        processed = registry.get_sample_value(
            "mooring_messages_total",
            {
                "service": "relay-test",
                "topic": settings.kafka.topic_prefix + "account.connected",
                "outcome": "processed",
            },
        )
        assert processed == 1
