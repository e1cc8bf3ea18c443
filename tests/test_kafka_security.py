"""The pipeline on a secured broker: SASL SCRAM-SHA-512 over TLS, topic ACLs per principal.

The launcher starts a second broker (`stack.py start kafka-secure`) that admits nobody without
credentials and nothing without an ACL, and applies deploy/kafka/acls.json for this test's topic
prefix. The relay publishes as `relay`, billing-gate reads as `billing-gate`, the platform writes
its input topics as `platform`; a service's own principal cannot write another's topics, and a
consumer refuses an event whose ce_source the contract does not name.
"""

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.db.engine import create_engine
from mooring.events import AccountConnected, Envelope, WorkspacePlanChanged, utcnow
from mooring.messaging.cloudevents import encode_body, encode_headers
from mooring.messaging.topics import contract_topics, ensure_topics
from mooring.service.runtime import ServiceRuntime
from mooring.service.settings import ServiceSettings
from mooring.settings import ConsumerSettings, DatabaseSettings, KafkaSettings
from mooring.testing import header, migrated_database, read_topic, scratch_topic_prefix
from mooring.uow import SqlUnitOfWork

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.connected]

ROOT = Path(__file__).resolve().parents[1]
SECURE = ROOT / ".run" / "kafka-secure"
STACK = [sys.executable, str(ROOT / "deploy" / "local" / "stack.py")]
BOOTSTRAP = "127.0.0.1:19094"


def users() -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in (SECURE / "users.env").read_text().splitlines() if line
    )


def as_principal(name: str, prefix: str, **extra: object) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=BOOTSTRAP,
        topic_prefix=prefix,
        security_protocol="SASL_SSL",
        sasl_username=name,
        sasl_password=users()[name],
        ssl_cafile=str(SECURE / "tls" / "ca.pem"),
        create_topics=False,  # the administrator made them
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def secure_broker() -> Iterator[None]:
    status = subprocess.run([*STACK, "status"], capture_output=True, text=True, check=True)
    subprocess.run([*STACK, "start", "kafka-secure"], check=True)
    yield
    if "kafka-secure: running" not in status.stdout:  # not running before: ours to stop
        subprocess.run([*STACK, "stop", "kafka-secure"], check=False)


@pytest.fixture(scope="module")
async def prefix(secure_broker: None) -> AsyncIterator[str]:
    prefix = scratch_topic_prefix("secure")
    admin_settings = as_principal("admin", prefix)
    await ensure_topics(
        BOOTSTRAP,
        contract_topics(prefix),
        partitions=1,
        request_timeout_ms=10_000,
        options=admin_settings.client_options(),
    )
    await asyncio.to_thread(subprocess.run, [*STACK, "acls", prefix], check=True)
    yield prefix
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP, **admin_settings.client_options())
    await admin.start()
    try:
        await admin.delete_topics(contract_topics(prefix))
    finally:
        await admin.close()


async def producer_for(settings: KafkaSettings) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=BOOTSTRAP, **settings.client_options())
    await producer.start()
    return producer


async def send(producer: AIOKafkaProducer, topic: str, envelope: Envelope) -> None:  # type: ignore[type-arg]
    await producer.send_and_wait(
        topic,
        value=encode_body(envelope),
        key=envelope.key.encode(),
        headers=[(k, v.encode()) for k, v in encode_headers(envelope).items()],
    )


@pytest.fixture(scope="module")
def database_settings(infra: tuple[DatabaseSettings, KafkaSettings]) -> Iterator[DatabaseSettings]:
    """A database of this module's own. The relay that holds a database's relay lock publishes
    every outbox row there to the broker *it* is connected to: in the session's database a
    relay of another test, on the plaintext broker, could take this test's row."""
    with migrated_database(infra[0], "mooring_secure") as settings:
        yield settings


@pytest.fixture(scope="module")
async def engine(database_settings: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_settings, application_name="kafka-security-tests")
    yield engine
    await engine.dispose()


async def ready(runtime: ServiceRuntime[SqlUnitOfWork], timeout_s: float = 120) -> None:
    """Every subscription joined: on a broker just started, the first group waits for the
    offsets topic to be made, and the first rebalance can take tens of seconds."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not (readiness := await runtime.readiness()).ready:
        assert asyncio.get_running_loop().time() < deadline, readiness.checks
        await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
async def effects(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE IF NOT EXISTS secure_effects (event_id uuid PRIMARY KEY)")
        )


async def applied(engine: AsyncEngine, event_id: uuid.UUID, timeout_s: float = 30) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        async with engine.connect() as conn:
            found = await conn.execute(
                text("SELECT 1 FROM secure_effects WHERE event_id = :e"), {"e": event_id}
            )
            if found.first() is not None:
                return True
        await asyncio.sleep(0.2)
    return False


async def test_the_pipeline_runs_through_scram_over_tls_and_acls_fence_every_principal(
    prefix: str, database_settings: DatabaseSettings, engine: AsyncEngine, effects: None
) -> None:
    kafka = as_principal(
        "billing-gate", prefix, relay_sasl_username="relay", relay_sasl_password=users()["relay"]
    )
    settings = ServiceSettings(
        kafka=kafka,
        database=database_settings,
        migrate_on_start=False,
        consumer=ConsumerSettings(
            allowed_sources={"workspace.plan_changed": ["platform"]}, max_attempts=1
        ),
    )
    runtime = ServiceRuntime("billing-gate", settings)  # group: prefix + billing-gate

    async def record(envelope: Envelope, uow: SqlUnitOfWork) -> None:  # type: ignore[type-arg]
        await uow.session.execute(
            text("INSERT INTO secure_effects VALUES (:e)"), {"e": envelope.id}
        )

    runtime.subscribe(AccountConnected, record)
    runtime.subscribe(WorkspacePlanChanged, record)
    connected = Envelope(
        AccountConnected(
            account_id=uuid.uuid4(), workspace_id=uuid.uuid4(), platform="x",
            platform_account_id="1", connected_at=utcnow(),
        ),
        source="mooring/connector",
    )  # fmt: skip
    ws = uuid.uuid4()
    plan = Envelope(
        WorkspacePlanChanged(workspace_id=ws, plan="pro", changed_at=utcnow()), "platform"
    )
    forged = Envelope(
        WorkspacePlanChanged(workspace_id=ws, plan="max", changed_at=utcnow()),
        source="mooring/connector",  # claims to be a service the contract does not name
    )
    platform = await producer_for(as_principal("platform", prefix))
    service_own = await producer_for(kafka)
    try:
        async with runtime.lifespan():
            await ready(runtime)
            # outbox -> relay (as `relay`) -> broker -> consumer (as `billing-gate`)
            async with runtime.unit_of_work() as uow:
                uow.emit(connected)
                await uow.commit()
            assert await applied(engine, connected.id)
            # the platform writes its input topic; a forged source is dead-lettered
            await send(platform, prefix + "workspace.plan_changed", forged)
            await send(platform, prefix + "workspace.plan_changed", plan)
            assert await applied(engine, plan.id)
            dead = await read_topic(
                BOOTSTRAP,
                prefix + "workspace.plan_changed.dlq",
                until=lambda rs: any(header(r, "ce_id") == str(forged.id) for r in rs),
                settle_s=0,
                options=as_principal("admin", prefix).client_options(),
            )
            (record_,) = [r for r in dead if header(r, "ce_id") == str(forged.id)]
            assert "may not publish workspace.plan_changed" in (header(record_, "dlq-error") or "")
        assert not await applied(engine, forged.id, timeout_s=0.5)
        # A service's own principal cannot write what it does not own: no forged plan change,
        # no event another service publishes.
        for topic in ("workspace.plan_changed", "account.connected"):
            with pytest.raises(KafkaError, match="TopicAuthorizationFailed"):
                await send(service_own, prefix + topic, plan)
    finally:
        await platform.stop()
        await service_own.stop()


async def test_without_credentials_the_broker_admits_nobody(prefix: str) -> None:
    anonymous = KafkaSettings(
        bootstrap_servers=BOOTSTRAP,
        security_protocol="SSL",
        ssl_cafile=str(SECURE / "tls" / "ca.pem"),
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=BOOTSTRAP, request_timeout_ms=3000, **anonymous.client_options()
    )
    with pytest.raises(KafkaError):
        await asyncio.wait_for(producer.start(), 15)
    await producer.stop()
