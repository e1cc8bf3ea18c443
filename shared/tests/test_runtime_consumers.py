"""The service runtime on the real broker: readiness, idempotent consumers, DLQ and replay."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mooring.events import AccountConnected, Envelope, utcnow
from mooring.messaging.cloudevents import encode_body, encode_headers
from mooring.messaging.dlq_replay import replay
from mooring.messaging.relay import OutboxRelay
from mooring.service.runtime import ServiceRuntime
from mooring.service.settings import ServiceSettings
from mooring.settings import ConsumerSettings, DatabaseSettings, KafkaSettings
from mooring.testing import header, read_topic, scratch_topic_prefix, unique
from mooring.uow import SqlUnitOfWork

pytestmark = [pytest.mark.integration, pytest.mark.connected]


def event(account_id: uuid.UUID | None = None) -> Envelope[AccountConnected]:
    return Envelope(
        payload=AccountConnected(
            account_id=account_id or uuid.uuid4(),
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

    async def handle(self, envelope: Envelope[AccountConnected], uow: SqlUnitOfWork) -> None:
        """No inbox here: the runtime marked the event handled in `uow` before calling."""
        if envelope.id in self.failing:
            raise RuntimeError(f"platform unavailable for {envelope.id}")
        await uow.session.execute(
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
        kafka=kafka_settings.model_copy(update={"topic_prefix": scratch_topic_prefix("rt")}),
        database=database_settings,
        consumer=ConsumerSettings(max_attempts=2, backoff_ms=10),
        migrate_on_start=False,
        relay_enabled=False,
    )


@pytest.fixture
async def runtime(
    settings: ServiceSettings, engine: AsyncEngine, effects_table: None
) -> AsyncIterator[tuple[ServiceRuntime[SqlUnitOfWork], Effects]]:
    runtime = ServiceRuntime("runtime-test", settings)
    effects = Effects(engine, unique("group"))
    runtime.subscribe(AccountConnected, effects.handle, group=effects.group)
    assert not (await runtime.readiness()).ready  # nothing started yet
    async with runtime.lifespan():
        for _ in range(200):
            if (await runtime.readiness()).ready:
                break
            await asyncio.sleep(0.1)
        readiness = await runtime.readiness()
        assert readiness.ready, readiness.checks
        yield runtime, effects


async def produce(
    producer: AIOKafkaProducer, topic: str, value: bytes, headers: dict[str, str], key: str
) -> None:
    await producer.send_and_wait(
        topic, value=value, key=key.encode(), headers=[(k, v.encode()) for k, v in headers.items()]
    )


async def after_the_copies(
    rt: ServiceRuntime[SqlUnitOfWork], effects: Effects, e: Envelope[AccountConnected]
) -> None:
    """Wait until a later event on the same key is processed: every copy before it was too."""
    marker = event(e.payload.account_id)
    topic = rt.settings.kafka.topic_prefix + "account.connected"
    await produce(rt.producer, topic, encode_body(marker), encode_headers(marker), marker.key)
    assert await effects.wait_for(marker.id) == 1


async def crash_once(relay: OutboxRelay) -> None:
    """Run `relay` until it is the leader and dies between publishing and marking."""
    for _ in range(100):
        try:
            result = await relay.relay_once()
        except RuntimeError as exc:
            if "killed" not in str(exc):
                raise
            return
        assert result is None, "another relay published the row first"
        await asyncio.sleep(0.1)  # another process's relay is the leader right now
    raise AssertionError("never became the relay leader")


async def test_ready_means_database_broker_and_subscriptions(
    runtime: tuple[ServiceRuntime[SqlUnitOfWork], Effects],
) -> None:
    readiness = await runtime[0].readiness()
    assert readiness.ready, readiness.checks
    assert readiness.checks["database"] == "ok"
    assert readiness.checks["kafka"] == "ok"
    assert any(
        k.startswith("subscription:") and k.endswith("account.connected") for k in readiness.checks
    )


async def inbox_sources(engine: AsyncEngine, group: str) -> dict[uuid.UUID, str | None]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT event_id, source FROM inbox WHERE consumer = :c"), {"c": group}
        )
        return {row.event_id: row.source for row in rows}


async def test_duplicates_yield_one_effect(
    runtime: tuple[ServiceRuntime[SqlUnitOfWork], Effects], engine: AsyncEngine
) -> None:
    rt, effects = runtime
    e = event()
    topic = rt.settings.kafka.topic_prefix + "account.connected"
    for _ in range(3):
        await produce(rt.producer, topic, encode_body(e), encode_headers(e), e.key)
    await after_the_copies(rt, effects, e)
    assert await effects.count(e.id) == 1
    # The mark records who sent the event (its ce_source), for an audit of what came from where.
    assert (await inbox_sources(engine, effects.group))[e.id] == "test"


async def test_relay_crash_duplicate_reaches_the_consumer_once(
    runtime: tuple[ServiceRuntime[SqlUnitOfWork], Effects], engine: AsyncEngine
) -> None:
    rt, effects = runtime
    e = event()
    async with AsyncSession(engine) as session, session.begin():
        await rt.outbox.add(session, e)

    class CrashAfterPublish(OutboxRelay):
        async def _publish(self, rows: Sequence[Any]) -> tuple[dict[int, BaseException], set[int]]:
            await super()._publish(rows)
            raise RuntimeError("killed between publish and mark")

    listen = rt.settings.database.libpq_url
    await crash_once(CrashAfterPublish(engine, rt.producer, listen_url=listen))
    assert await OutboxRelay(engine, rt.producer, listen_url=listen).relay_once()
    topic = rt.settings.kafka.topic_prefix + "account.connected"
    copies = await read_topic(
        rt.settings.kafka.bootstrap_servers,
        topic,
        until=lambda rs: sum(header(r, "ce_id") == str(e.id) for r in rs) >= 2,
    )
    assert sum(header(r, "ce_id") == str(e.id) for r in copies) == 2
    await after_the_copies(rt, effects, e)
    assert await effects.count(e.id) == 1


async def test_malformed_goes_to_dlq_with_its_error_and_the_next_message_is_processed(
    runtime: tuple[ServiceRuntime[SqlUnitOfWork], Effects],
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
    runtime: tuple[ServiceRuntime[SqlUnitOfWork], Effects],
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


async def test_a_crashed_background_job_makes_the_service_not_ready(
    settings: ServiceSettings,
) -> None:
    runtime = ServiceRuntime("crash-test", settings)

    async def finishes() -> None:
        return None

    async def crashes() -> None:
        raise RuntimeError("sweeper bug")

    runtime.background("one-shot", finishes)
    runtime.background("sweeper", crashes)
    async with runtime.lifespan():
        await asyncio.sleep(0.2)
        readiness = await runtime.readiness()
    assert readiness.checks["task:one-shot"] == "ok"
    assert readiness.checks["task:sweeper"] == "crashed"
    assert not readiness.ready


async def test_batch_subscribers_apply_a_batch_at_once_and_isolate_a_poison_event(
    settings: ServiceSettings, engine: AsyncEngine, effects_table: None
) -> None:
    group = unique("batch")
    poison: set[uuid.UUID] = set()
    batch_sizes: list[int] = []

    async def handle_batch(
        envelopes: Sequence[Envelope[AccountConnected]], uow: SqlUnitOfWork
    ) -> None:
        batch_sizes.append(len(envelopes))
        if poison & {e.id for e in envelopes}:
            raise RuntimeError("cannot apply this one")
        for envelope in envelopes:  # only events this group has not handled before
            await uow.session.execute(
                text("INSERT INTO test_effects (grp, event_id) VALUES (:g, :e)"),
                {"g": group, "e": envelope.id},
            )

    runtime = ServiceRuntime("batch-test", settings)
    runtime.subscribe_batch(AccountConnected, handle_batch, group=group)
    topic = settings.kafka.topic_prefix + "account.connected"
    events = [event() for _ in range(50)]
    poison.add(events[10].id)
    counter = Effects(engine, group)
    async with runtime.lifespan():
        for e in events:
            await produce(runtime.producer, topic, encode_body(e), encode_headers(e), e.key)
        await produce(runtime.producer, topic, b"not json", encode_headers(events[0]), "k")
        for e in events[:10] + events[11:]:
            assert await counter.wait_for(e.id) == 1, e.id
        dead = await read_topic(
            settings.kafka.bootstrap_servers,
            topic + ".dlq",
            until=lambda rs: len(rs) >= 2,
            settle_s=0.5,
        )
    assert await counter.count(events[10].id) == 0
    marks = await inbox_sources(engine, group)
    assert set(marks) == {e.id for e in events} - poison  # the poison's mark rolled back
    assert set(marks.values()) == {"test"}  # each with its ce_source, batch path too
    assert sorted(header(r, "dlq-error-type") for r in dead) == [
        "MalformedEventError",
        "RuntimeError",
    ]
    assert max(batch_sizes) > 1  # records really arrived and were applied in batches


async def test_processed_offsets_are_committed_so_a_restart_does_not_redeliver(
    settings: ServiceSettings, engine: AsyncEngine, effects_table: None
) -> None:
    effects = Effects(engine, unique("group"))
    seen: list[uuid.UUID] = []

    async def handle(envelope: Envelope[AccountConnected], uow: SqlUnitOfWork) -> None:
        seen.append(envelope.id)
        await effects.handle(envelope, uow)

    topic = settings.kafka.topic_prefix + "account.connected"
    first, second = [event() for _ in range(5)], event()
    runtime = ServiceRuntime("offsets-test", settings)
    runtime.subscribe(AccountConnected, handle, group=effects.group)
    async with runtime.lifespan():
        for e in first:
            await produce(runtime.producer, topic, encode_body(e), encode_headers(e), e.key)
        for e in first:
            assert await effects.wait_for(e.id) == 1
    restarted = ServiceRuntime("offsets-test", settings)
    restarted.subscribe(AccountConnected, handle, group=effects.group)
    async with restarted.lifespan():
        await produce(
            restarted.producer, topic, encode_body(second), encode_headers(second), second.key
        )
        assert await effects.wait_for(second.id) == 1
    assert sorted(map(str, seen)) == sorted(map(str, [*(e.id for e in first), second.id]))


async def test_a_record_whose_database_was_down_is_read_again_and_applied_once(
    settings: ServiceSettings, engine: AsyncEngine, effects_table: None
) -> None:
    from sqlalchemy.exc import OperationalError

    effects = Effects(engine, unique("group"))
    outages = 2

    async def handle(envelope: Envelope[AccountConnected], uow: SqlUnitOfWork) -> None:
        nonlocal outages
        if outages:
            outages -= 1
            raise OperationalError("INSERT", {}, ConnectionRefusedError("db restarting"))
        await effects.handle(envelope, uow)

    fast = settings.consumer.model_copy(update={"infrastructure_backoff_ms": 10})
    runtime = ServiceRuntime("outage-test", settings.model_copy(update={"consumer": fast}))
    runtime.subscribe(AccountConnected, handle, group=effects.group)
    e, after = event(), event()
    topic = settings.kafka.topic_prefix + "account.connected"
    async with runtime.lifespan():
        await produce(runtime.producer, topic, encode_body(e), encode_headers(e), e.key)
        await produce(runtime.producer, topic, encode_body(after), encode_headers(after), e.key)
        assert await effects.wait_for(e.id) == 1
        assert await effects.wait_for(after.id) == 1
        dead = await read_topic(
            settings.kafka.bootstrap_servers, topic + ".dlq", until=lambda _: True, settle_s=0.5
        )
    assert not dead  # an outage is never the message's fault
    assert outages == 0
