import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mooring.db.engine import create_engine
from mooring.db.migrate import upgrade
from mooring.db.tables import outbox
from mooring.events import AccountConnected, Envelope, utcnow
from mooring.messaging.outbox import Outbox
from mooring.messaging.relay import OutboxRelay, create_idempotent_producer
from mooring.messaging.topics import contract_topics, ensure_topics
from mooring.settings import DatabaseSettings, KafkaSettings
from mooring.testing import header, read_topic, scratch_topic_prefix

pytestmark = [pytest.mark.integration, pytest.mark.connected]


def connected_event(account_id: uuid.UUID | None = None) -> Envelope[AccountConnected]:
    return Envelope(
        payload=AccountConnected(
            account_id=account_id or uuid.uuid4(),
            workspace_id=uuid.uuid4(),
            platform="x",
            platform_account_id="42",
            connected_at=utcnow(),
        ),
        source="connector",
    )


@pytest.fixture
async def prefix(kafka_settings: KafkaSettings) -> str:
    prefix = scratch_topic_prefix("relay")
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


def relay_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.message for r in caplog.records if r.name == "mooring.messaging.relay"]


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


async def test_a_row_kafka_refuses_is_retried_then_parked_without_holding_back_the_rest(
    engine: AsyncEngine,
    database_settings: DatabaseSettings,
    kafka_settings: KafkaSettings,
    producer: AIOKafkaProducer,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    too_big, fine = connected_event(), connected_event()
    async with AsyncSession(engine) as session, session.begin():
        await Outbox(prefix).add(session, too_big, fine)
        # Larger than the producer's max request size: Kafka can never take it.
        await session.execute(
            outbox.update().where(outbox.c.event_id == too_big.id).values(payload=b"x" * 2_000_000)
        )
    relay = OutboxRelay(engine, producer, listen_url=database_settings.libpq_url, max_attempts=2)
    caplog.set_level(logging.WARNING, logger="mooring.messaging.relay")
    assert await relay.relay_once() is not None  # the good one goes; the big one steps aside
    assert relay_messages(caplog) == ["outbox publish failed"]
    caplog.clear()
    async with engine.begin() as conn:  # skip its back-off instead of sleeping through it
        await conn.execute(
            outbox.update().where(outbox.c.event_id == too_big.id).values(next_attempt_at=None)
        )
    assert await relay.relay_once() is not None
    assert relay_messages(caplog) == [
        "outbox publish failed",
        "outbox rows parked after repeated publish failures",
    ]
    records = await read_topic(
        kafka_settings.bootstrap_servers,
        prefix + "account.connected",
        until=lambda rs: any(header(r, "ce_id") == str(fine.id) for r in rs),
    )
    assert [header(r, "ce_id") for r in records] == [str(fine.id)]
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(outbox.c.attempts, outbox.c.last_error, outbox.c.parked_at).where(
                    outbox.c.event_id == too_big.id
                )
            )
        ).one()
    assert row.attempts == 2
    assert row.parked_at is not None
    assert "MessageSizeTooLarge" in row.last_error
    assert await relay.relay_once() == 0  # parked: no longer retried


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
    pruned_outbox, _ = await relay.prune()
    assert pruned_outbox >= 1
    async with engine.connect() as conn:
        left = set(
            (
                await conn.execute(
                    select(outbox.c.event_id).where(outbox.c.event_id.in_([old.id, recent.id]))
                )
            ).scalars()
        )
    assert left == {recent.id}


async def test_rows_behind_a_failed_row_of_their_key_wait_for_it_and_keep_their_order(
    engine: AsyncEngine,
    database_settings: DatabaseSettings,
    kafka_settings: KafkaSettings,
    producer: AIOKafkaProducer,
) -> None:
    prefix = scratch_topic_prefix("order")  # its topics do not exist yet: the first row fails
    account_id = uuid.uuid4()
    first, second, third = (connected_event(account_id) for _ in range(3))
    other = connected_event()
    box = Outbox(prefix)
    async with AsyncSession(engine) as session, session.begin():
        await box.add(session, first)
    relay = OutboxRelay(
        engine, producer, listen_url=database_settings.libpq_url, metadata_timeout_s=0.5
    )
    await relay.relay_once()
    await ensure_topics(
        kafka_settings.bootstrap_servers,
        contract_topics(prefix),
        partitions=3,
        request_timeout_ms=10_000,
    )
    async with AsyncSession(engine) as session, session.begin():
        await box.add(session, second, other, third)
    await relay.relay_once()  # `first` waits out its back-off: its key waits with it
    topic = prefix + "account.connected"
    early = await read_topic(
        kafka_settings.bootstrap_servers,
        topic,
        until=lambda rs: any(header(r, "ce_id") == str(other.id) for r in rs),
        settle_s=0.5,
    )
    assert [header(r, "ce_id") for r in early] == [str(other.id)]  # another key is not held
    async with engine.begin() as conn:  # its back-off is over
        await conn.execute(
            outbox.update().where(outbox.c.event_id == first.id).values(next_attempt_at=func.now())
        )
    await relay.relay_once()
    records = await read_topic(
        kafka_settings.bootstrap_servers,
        topic,
        until=lambda rs: sum(r.key == str(account_id).encode() for r in rs) >= 3,
        settle_s=0.5,
    )
    same_key = [header(r, "ce_id") for r in records if r.key == str(account_id).encode()]
    assert same_key == [str(first.id), str(second.id), str(third.id)]


async def test_pruning_keeps_up_with_more_rows_than_one_chunk(
    scratch_database: DatabaseSettings, producer: AIOKafkaProducer
) -> None:
    """Rows published past their retention are all gone after one prune, however many there
    are (one bounded chunk per minute fell behind the pipeline's own rate)."""
    await asyncio.to_thread(upgrade, scratch_database)
    rows = 25_000
    engine = create_engine(scratch_database, application_name="prune-test")
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO outbox (event_id, topic, key, headers, payload, published_at) "
                    "SELECT gen_random_uuid(), 't', 'k', '{}', '\\x00', now() - interval '2 days' "
                    "FROM generate_series(1, :n)"
                ),
                {"n": rows},
            )
            await conn.execute(
                text(
                    "INSERT INTO inbox (consumer, event_id, processed_at) "
                    "SELECT 'c', gen_random_uuid(), now() - interval '30 days' "
                    "FROM generate_series(1, :n)"
                ),
                {"n": rows},
            )
            await conn.execute(
                text(
                    "INSERT INTO outbox (event_id, topic, key, headers, payload, published_at) "
                    "VALUES (gen_random_uuid(), 't', 'k', '{}', '\\x00', now())"
                )
            )
        relay = OutboxRelay(engine, producer, listen_url=scratch_database.libpq_url)
        assert await relay.prune() == (rows, rows)
        async with engine.connect() as conn:
            left = (await conn.execute(text("SELECT count(*) FROM outbox"))).scalar_one()
            inbox_left = (await conn.execute(text("SELECT count(*) FROM inbox"))).scalar_one()
        assert (left, inbox_left) == (1, 0)  # the recent row stays
    finally:
        await engine.dispose()


async def test_more_rows_of_a_missing_topic_than_one_batch_hold_back_no_other_topic(
    scratch_database: DatabaseSettings,
    kafka_settings: KafkaSettings,
    producer: AIOKafkaProducer,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A missing topic's rows all step aside at once, claimed or not: its lower ids would
    otherwise fill every batch again as soon as their back-off ended, and a row of an existing
    topic behind them would wait until every one of them was parked (hours, for a deleted
    benchmark topic's 24,000 rows in a development outbox)."""
    await asyncio.to_thread(upgrade, scratch_database)
    engine = create_engine(scratch_database, application_name="missing-topic-test")
    gone = [connected_event() for _ in range(5)]
    fine = connected_event()
    try:
        async with AsyncSession(engine) as session, session.begin():
            await Outbox(scratch_topic_prefix("gone")).add(session, *gone)  # never created
            await Outbox(prefix).add(session, fine)
        relay = OutboxRelay(
            engine,
            producer,
            listen_url=scratch_database.libpq_url,
            batch_size=2,
            metadata_timeout_s=0.5,
        )
        caplog.set_level(logging.WARNING, logger="mooring.messaging.relay")
        assert await relay.relay_once() == 0  # two of the missing topic's rows claimed
        async with engine.connect() as conn:
            waiting = (
                await conn.execute(
                    select(outbox.c.attempts, outbox.c.next_attempt_at.is_not(None)).where(
                        outbox.c.event_id.in_([e.id for e in gone])
                    )
                )
            ).all()
        assert sorted(waiting) == [(1, True)] * 5  # the unclaimed three stepped aside too
        assert "outbox rows of a missing topic stepped aside" in relay_messages(caplog)
        assert await relay.relay_once() == 1  # the next batch is the existing topic's row
        records = await read_topic(
            kafka_settings.bootstrap_servers,
            prefix + "account.connected",
            until=lambda rs: any(header(r, "ce_id") == str(fine.id) for r in rs),
        )
        assert [header(r, "ce_id") for r in records] == [str(fine.id)]
    finally:
        await engine.dispose()
