"""A running billing-gate (real PostgreSQL and Kafka, its own topic prefix) driven over ASGI."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from billing_gate.config import Settings
from billing_gate.domain.plans import PlanCatalogue
from billing_gate.main import create_app
from billing_gate.service_layer.gate import BillingGate
from billing_gate.service_layer.projection import count_connected, forget_removed
from billing_gate.service_layer.unit_of_work import AbstractBillingUnitOfWork, BillingUnitOfWork
from mooring.db.engine import create_session_factory
from mooring.messaging.outbox import Outbox
from mooring.service.auth import GatewayJwtSettings
from mooring.service.runtime import ServiceRuntime
from mooring.settings import ConsumerSettings, DatabaseSettings, KafkaSettings
from mooring.testing import scratch_topic_prefix, unique
from mooring.uow import UnitOfWorkDeps

TOKEN = "test-service-token"
GATEWAY = GatewayJwtSettings(secret=SecretStr("test-gateway-secret-of-32-bytes!!"))


@dataclass
class Running:
    app: FastAPI
    runtime: ServiceRuntime[Any]
    http: httpx.AsyncClient  # carries the service token
    settings: Settings

    def topic(self, event_type: str) -> str:
        return self.settings.kafka.topic_prefix + event_type

    @staticmethod
    def ws(workspace_id: uuid.UUID) -> str:
        return f"/internal/v1/workspaces/{workspace_id}"

    async def usage(self, workspace_id: uuid.UUID) -> dict[str, object]:
        r = await self.http.get(f"{self.ws(workspace_id)}/usage")
        assert r.status_code == 200, r.text
        body: dict[str, object] = r.json()
        return body

    async def connect_accounts(
        self, workspace_id: uuid.UUID, n: int, platform: str = "bluesky"
    ) -> list[tuple[uuid.UUID, str]]:
        """Add `n` accounts the way the connector will: reserve with the identity, confirm."""
        added = []
        for _ in range(n):
            handle = f"did:plc:{uuid.uuid4().hex[:12]}"
            account_id = uuid.uuid4()
            r = await self.http.post(
                f"{self.ws(workspace_id)}/reservations",
                json={"platform": platform, "platform_account_id": handle},
            )
            assert r.status_code == 201, r.text
            c = await self.http.post(
                f"{self.ws(workspace_id)}/reservations/{r.json()['reservation_id']}/confirm",
                json={"account_id": str(account_id)},
            )
            assert c.status_code == 200, c.text
            added.append((account_id, handle))
        return added


def service_settings(
    database: DatabaseSettings, kafka: KafkaSettings, prefix: str, **overrides: object
) -> Settings:
    return Settings(
        kafka=kafka.model_copy(update={"topic_prefix": prefix}),
        database=database,
        consumer=ConsumerSettings(max_attempts=2, backoff_ms=10),
        migrate_on_start=False,
        relay_enabled=False,
        service_tokens=[SecretStr(TOKEN)],
        gateway=GATEWAY,
        sweep_interval_s=0.5,
        # Its own group: other runs on the same cluster would otherwise rebalance this one.
        consumer_group=unique("billing-gate"),
        **overrides,  # type: ignore[arg-type]
    )


async def wait_ready(runtime: ServiceRuntime[Any]) -> None:
    for _ in range(300):
        if (await runtime.readiness()).ready:
            return
        await asyncio.sleep(0.1)
    raise AssertionError((await runtime.readiness()).checks)


@pytest.fixture(scope="module")
async def service(
    database_settings: DatabaseSettings, kafka_settings: KafkaSettings
) -> AsyncIterator[Running]:
    settings = service_settings(database_settings, kafka_settings, scratch_topic_prefix("bg"))
    app = create_app(settings)
    runtime: ServiceRuntime[Any] = app.state.runtime
    async with app.router.lifespan_context(app):
        await wait_ready(runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://billing-gate",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        ) as http:
            yield Running(app, runtime, http, settings)


@pytest.fixture
def wait_until_ready():
    return wait_ready


def sql_uow(engine: AsyncEngine) -> Callable[[], BillingUnitOfWork]:
    deps = UnitOfWorkDeps(
        sessions=create_session_factory(engine), outbox=Outbox(), source="billing-gate-test"
    )
    return lambda: BillingUnitOfWork(deps)


@dataclass
class Projection:
    """The projection as the runtime drives it: one unit of work per event, inbox first."""

    uow: Callable[[], AbstractBillingUnitOfWork]
    consumer: str

    async def account_connected(self, event_id: uuid.UUID, **fields: Any) -> None:
        async with self.uow() as uow:
            if await uow.first_delivery(self.consumer, event_id):
                await count_connected(uow, **fields)
                await uow.commit()

    async def account_disconnected(self, event_id: uuid.UUID, **fields: Any) -> None:
        async with self.uow() as uow:
            if await uow.first_delivery(self.consumer, event_id):
                await forget_removed(uow, **fields)
                await uow.commit()


@dataclass
class Core:
    """The use cases over the real database, without HTTP or Kafka: the test orders every step."""

    gate: BillingGate
    projection: Projection
    engine: AsyncEngine


@pytest.fixture
def core(engine: AsyncEngine) -> Core:
    uow = sql_uow(engine)
    gate = BillingGate(
        uow=uow,
        catalogue=PlanCatalogue.from_limits(
            {"starter": 5, "plus": 10, "pro": 30, "max": 100}, default="starter"
        ),
        mode="cloud",
        reservation_ttl=timedelta(minutes=15),
    )
    return Core(gate, Projection(uow, consumer=unique("bg-test")), engine)


async def expire_now(engine: AsyncEngine, reservation_id: uuid.UUID | str) -> None:
    """Move a reservation's expiry into the past by the database's clock: expiry, no sleeping."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE billing_reservations SET expires_at = clock_timestamp() - interval '1 s' "
                "WHERE id = :id"
            ),
            {"id": uuid.UUID(str(reservation_id))},
        )


async def add_shared_account(
    engine: AsyncEngine, workspace_id: uuid.UUID, platform: str, platform_account_id: str
) -> uuid.UUID:
    """An account row as the connector's repository leaves it (the shared aggregate)."""
    account_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO accounts (id, workspace_id, platform, platform_account_id, "
                "credentials) VALUES (:id, :ws, :platform, :pid, :credentials)"
            ),
            {
                "id": account_id,
                "ws": workspace_id,
                "platform": platform,
                "pid": platform_account_id,
                "credentials": b"sealed",
            },
        )
    return account_id
