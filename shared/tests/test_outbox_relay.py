import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from mooring.db.tables import outbox
from mooring.events import AccountConnected, Envelope, utcnow
from mooring.messaging.outbox import Outbox
from mooring.messaging.relay import OutboxRelay, create_idempotent_producer
from mooring.messaging.topics import contract_topics, ensure_topics
from mooring.settings import DatabaseSettings, KafkaSettings
from mooring.testing import header, read_topic, unique
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

pytestmark = [pytest.mark.integration, pytest.mark.connected]


def connected_event() -> Envelope[AccountConnected]:
    return Envelope(
        payload=AccountConnected(
            account_id=uuid.uuid4(),
            workspace_id=uuid.uuid4(),
            platform="x",
            platform_account_id="42",
            connected_at=utcnow(),
        ),
        source="connector",
    )


@pytest.fixture
async def prefix(kafka_settings: KafkaSettings) -> str:
    prefix = unique("t") + "."
    await ensure_topics(
        kafka_settings.bootstrap_servers,
        contract_topics(prefix),
        partitions=3,
        request_timeout_ms=10_000,
    )
    return prefix


@pytest.fixture
async def producer(kafka_settings: KafkaSettings) -> AsyncIterator[AIOKafkaProducer]:
    producer = create_idempotent_producer(kafka_settings.bootstrap_servers, client_id="relay-test")
    await producer.start()
    yield producer
    await producer.stop()


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[OutboxRelay]:
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        relay.stop()
        await asyncio.wait_for(task, 10)


async def test_committed_event_arrives_once_with_headers_and_key_and_rollback_publishes_nothing(
    engine: AsyncEngine,
    database_settings: DatabaseSettings,
    kafka_settings: KafkaSettings,
    producer: AIOKafkaProducer,
    prefix: str,
) -> None:
    box = Outbox(prefix)
    committed, rolled_back = connected_event(), connected_event()
    async with AsyncSession(engine) as session, session.begin():
        await box.add(session, committed)
    async with AsyncSession(engine) as session:
        await session.begin()
        await box.add(session, rolled_back)
        await session.rollback()

    relay = OutboxRelay(engine, producer, listen_url=database_settings.libpq_url)
    async with running(relay):
        records = await read_topic(
            kafka_settings.bootstrap_servers,
            prefix + "account.connected",
            until=lambda rs: any(header(r, "ce_id") == str(committed.id) for r in rs),
        )
    ids = [header(r, "ce_id") for r in records]
    assert ids.count(str(committed.id)) == 1
    assert str(rolled_back.id) not in ids
    (record,) = [r for r in records if header(r, "ce_id") == str(committed.id)]
    assert record.key == str(committed.payload.account_id).encode()
    assert header(record, "ce_type") == "account.connected"
    assert header(record, "ce_source") == "connector"
    assert header(record, "ce_specversion") == "1.0"
    assert header(record, "ce_subject") == str(committed.payload.account_id)
    assert header(record, "content-type") == "application/json"
    assert AccountConnected.model_validate_json(record.value) == committed.payload
    async with engine.connect() as conn:
        unpublished = (
            await conn.execute(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.event_id == committed.id, outbox.c.published_at.is_(None))
            )
        ).scalar_one()
        assert unpublished == 0
        assert (
            await conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.event_id == rolled_back.id)
            )
        ).scalar_one() == 0


class CrashAfterPublish(OutboxRelay):
    """Publishes, then dies before the rows are marked: the transaction rolls back."""

    async def _publish(self, rows: Sequence[Any]) -> None:
        await super()._publish(rows)
        raise RuntimeError("relay killed between publish and mark")


async def test_a_relay_dying_after_publish_republishes_and_consumers_dedupe(
    engine: AsyncEngine,
    database_settings: DatabaseSettings,
    kafka_settings: KafkaSettings,
    producer: AIOKafkaProducer,
    prefix: str,
) -> None:
    from mooring.messaging.inbox import first_delivery

    event = connected_event()
    async with AsyncSession(engine) as session, session.begin():
        await Outbox(prefix).add(session, event)

    crashing = CrashAfterPublish(engine, producer, listen_url=database_settings.libpq_url)
    with pytest.raises(RuntimeError, match="killed"):  # noqa: PT012 - retried until leader
        while True:  # 0 means another process's relay held the lock this round
            await crashing.relay_once()
    relay = OutboxRelay(engine, producer, listen_url=database_settings.libpq_url)
    async with running(relay):
        records = await read_topic(
            kafka_settings.bootstrap_servers,
            prefix + "account.connected",
            until=lambda rs: sum(header(r, "ce_id") == str(event.id) for r in rs) >= 2,
        )
    copies = [r for r in records if header(r, "ce_id") == str(event.id)]
    assert len(copies) == 2, "the crash must have produced a duplicate on Kafka"

    effects = 0
    consumer = unique("dedupe")
    for record in copies:  # an idempotent consumer: inbox row + effect in one transaction
        async with AsyncSession(engine) as session, session.begin():
            if await first_delivery(
                session, consumer=consumer, event_id=uuid.UUID(header(record, "ce_id"))
            ):
                effects += 1
    assert effects == 1


async def test_published_rows_past_retention_are_pruned_and_recent_ones_kept(
    engine: AsyncEngine, database_settings: DatabaseSettings, producer: AIOKafkaProducer
) -> None:
    old, recent = connected_event(), connected_event()
    async with AsyncSession(engine) as session, session.begin():
        await Outbox("never-relayed.").add(session, old, recent)
        await session.execute(
            outbox.update()
            .where(outbox.c.event_id == old.id)
            .values(published_at=func.now() - text("interval '2 days'"))
        )
        await session.execute(
            outbox.update().where(outbox.c.event_id == recent.id).values(published_at=func.now())
        )
    relay = OutboxRelay(engine, producer, listen_url=database_settings.libpq_url)
    assert await relay.prune() >= 1
    async with engine.connect() as conn:
        left = set(
            (
                await conn.execute(
                    select(outbox.c.event_id).where(outbox.c.event_id.in_([old.id, recent.id]))
                )
            ).scalars()
        )
    assert left == {recent.id}
