"""Kafka stopped and started again while accounts are being connected: the connects go on, the
services say Kafka is not ready while it is gone, no outbox row is charged for the outage, and
once it is back every outbox row reaches its topic exactly once (by event id) and is consumed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mooring.db.engine import create_engine
from mooring.db.migrate import upgrade
from mooring.events import AccountConnected, Envelope, utcnow
from mooring.messaging.outbox import Outbox
from mooring.messaging.relay import OutboxRelay, create_idempotent_producer
from mooring.messaging.topics import contract_topics, ensure_topics
from mooring.testing import header, read_topic, scratch_topic_prefix, temporary_database
from tests.system import System

from .helpers import connect_bluesky, every_service, scalar, wait_until
from .stack import FailureStack

# Longer than a relay round takes to give up on a broker that does not answer.
OUTAGE_S = 15
PER_WORKSPACE = 50  # the largest plan allows 100 accounts


class Load:
    """Connects, one after another, until stopped; every one must succeed."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.accounts: list[uuid.UUID] = []
        self._stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        workspace = uuid.uuid4()
        async with httpx.AsyncClient(timeout=15) as client:
            while not self._stop.is_set():
                if self.accounts and len(self.accounts) % PER_WORKSPACE == 0:
                    workspace = uuid.uuid4()
                name = f"outage-{len(self.accounts)}-{uuid.uuid4().hex[:6]}"
                self.accounts.append(await connect_bluesky(client, self.system, workspace, name))
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()

    async def reach(self, n: int, timeout_s: float = 60) -> None:
        async def enough() -> bool:
            if self.task is not None and self.task.done():
                self.task.result()  # a connect that failed says why
            return len(self.accounts) >= n

        await wait_until(enough, timeout_s=timeout_s, what=f"{n} connects")


@contextlib.asynccontextmanager
async def lone_relay(stack: FailureStack) -> AsyncIterator[tuple[OutboxRelay, AsyncEngine, str]]:
    """A relay on a database of its own (advisory locks are per database, so the services'
    relay does not stand it by) whose rows are parked after two refusals, and its prefix."""
    bootstrap = stack.kafka.bootstrap_servers
    prefix = scratch_topic_prefix("lone-relay")
    await ensure_topics(bootstrap, contract_topics(prefix), partitions=1, request_timeout_ms=10_000)
    with temporary_database(stack.server, "mooring_relay") as database:
        await asyncio.to_thread(upgrade, database)
        engine = create_engine(database, application_name="lone-relay")
        producer = create_idempotent_producer(bootstrap, client_id="lone-relay")
        await producer.start()
        try:
            relay = OutboxRelay(
                engine,
                producer,
                listen_url=database.libpq_url,
                max_attempts=2,
                metadata_timeout_s=1,
            )
            yield relay, engine, prefix
        finally:
            await producer.stop()
            await engine.dispose()


async def outbox_state(engine: AsyncEngine) -> list[tuple[int, bool, bool]]:
    """(attempts, parked, published) of every outbox row."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT attempts, parked_at IS NOT NULL, published_at IS NOT NULL "
                "FROM outbox ORDER BY id"
            )
        )
        return [(int(a), bool(p), bool(s)) for a, p, s in rows]


@pytest.mark.timeout(300)
async def test_the_outbox_holds_every_event_through_a_broker_outage_and_delivers_each_once(
    system: System, failure_stack: FailureStack, failure_engine: AsyncEngine
) -> None:
    prefix = system.env["KAFKA_TOPIC_PREFIX"]
    bootstrap = system.env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = prefix + "account.connected"

    async def waiting() -> int:
        return int(
            await scalar(
                failure_engine,
                "SELECT count(*) FROM outbox WHERE topic = :t AND published_at IS NULL",
                t=topic,
            )
        )

    load = Load(system)
    load.task = connecting = asyncio.create_task(load.run())
    async with lone_relay(failure_stack) as (relay, relay_engine, relay_prefix):
        lone = [
            Envelope(
                payload=AccountConnected(
                    account_id=uuid.uuid4(),
                    workspace_id=uuid.uuid4(),
                    platform="x",
                    platform_account_id=f"lone-{n}",
                    connected_at=utcnow(),
                ),
                source="mooring/connector",
            )
            for n in range(3)
        ]
        async with AsyncSession(relay_engine) as session, session.begin():
            await Outbox(relay_prefix).add(session, *lone)
        try:
            await load.reach(5)
            await failure_stack.stop_kafka()
            stopped_at = asyncio.get_running_loop().time()
            at_stop = len(load.accounts)

            await wait_until(
                lambda: every_service(system, ready=False, check="kafka"),
                timeout_s=60,
                what="every service: kafka not ready",
            )

            # Rounds that find no broker charge nobody: with two attempts allowed, a round
            # counted against the rows would have parked them by the second.
            for _ in range(3):
                assert await relay.relay_once() == 0
                async with relay_engine.begin() as conn:  # no back-off to wait out, if any
                    await conn.execute(text("UPDATE outbox SET next_attempt_at = NULL"))
            assert await outbox_state(relay_engine) == [(0, False, False)] * len(lone)

            await asyncio.sleep(max(0.0, stopped_at + OUTAGE_S - asyncio.get_running_loop().time()))
            assert len(load.accounts) >= at_stop + 10, "connects stalled without the broker"
            assert await waiting() >= 10, "events made while the broker was down were published?"
            await failure_stack.start_kafka()
            await load.reach(len(load.accounts) + 5)
        finally:
            load.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(connecting, 30)

        async def lone_published() -> bool:
            await relay.relay_once()
            return all(published for _, _, published in await outbox_state(relay_engine))

        await wait_until(lone_published, timeout_s=60, what="the lone relay's rows published")
        records = await read_topic(
            bootstrap,
            relay_prefix + "account.connected",
            until=lambda rs: len(rs) >= len(lone),
        )
        assert sorted(header(r, "ce_id") or "" for r in records) == sorted(str(e.id) for e in lone)

    await delivered_once(system, failure_engine, list(load.accounts))


async def delivered_once(system: System, engine: AsyncEngine, connected: list[uuid.UUID]) -> None:
    """Every connect's event published, on its topic once, consumed; every service ready."""
    prefix = system.env["KAFKA_TOPIC_PREFIX"]
    topic = prefix + "account.connected"
    keys = [str(a) for a in connected]

    async def all_published() -> bool:
        unpublished = await scalar(
            engine,
            "SELECT count(*) FROM outbox WHERE topic = :t AND key = ANY(:keys) "
            "AND published_at IS NULL",
            t=topic,
            keys=keys,
        )
        return int(unpublished) == 0

    await wait_until(all_published, timeout_s=120, what="every outbox row published")
    parked = await scalar(
        engine, "SELECT count(*) FROM outbox WHERE topic = :t AND parked_at IS NOT NULL", t=topic
    )
    assert parked == 0

    await wait_until(
        lambda: every_service(system, ready=True, check="kafka"),
        timeout_s=60,
        what="every service ready again",
    )

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT event_id::text, key FROM outbox WHERE topic = :t AND key = ANY(:k)"),
                {"t": topic, "k": keys},
            )
        ).all()
    assert sorted(key for _, key in rows) == sorted(keys)  # one event per connect
    event_ids = {event_id for event_id, _ in rows}
    # The topic also holds other tests' events: only these connects' are counted.
    records = await read_topic(
        system.env["KAFKA_BOOTSTRAP_SERVERS"],
        topic,
        until=lambda rs: event_ids <= {header(r, "ce_id") for r in rs},
        timeout_s=30,
        settle_s=2,
    )
    copies = collections.Counter(
        ce_id for r in records if (ce_id := header(r, "ce_id")) in event_ids
    )
    assert set(copies) == event_ids
    assert set(copies.values()) == {1}, "an event reached the topic twice"

    # And the consumers, back on the broker, took every one of them in.
    async def consumed() -> bool:
        marked = await scalar(
            engine,
            "SELECT count(*) FROM inbox WHERE consumer = :g AND event_id = ANY(:ids)",
            g=prefix + "billing-gate",
            ids=[uuid.UUID(e) for e in event_ids],
        )
        return int(marked) == len(event_ids)

    await wait_until(consumed, timeout_s=60, what="billing-gate consumed every connect")
