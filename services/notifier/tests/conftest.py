"""A running notifier (real PostgreSQL and Kafka, its own topic prefix) driven over ASGI, and a
real SMTP server (aiosmtpd) it sends to, which a test can make refuse or stop."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.events import Envelope, Event
from mooring.messaging.cloudevents import encode_body, encode_headers
from mooring.service.auth import GatewayJwtSettings, Role, issue_gateway_token
from mooring.service.runtime import ServiceRuntime
from mooring.settings import ConsumerSettings, DatabaseSettings, KafkaSettings
from mooring.testing import scratch_topic_prefix, unique
from notifier.config import Settings
from notifier.main import create_app

TOKEN = "test-service-token"
GATEWAY = GatewayJwtSettings(secret=SecretStr("test-gateway-secret-of-32-bytes!!"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler:
    """Keeps every accepted message; answers RCPT with `refuse` when set (e.g. a 550)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.refuse: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.refuse is not None:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.raw.append(envelope.content)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """A real SMTP server on a fixed loopback port, which can be stopped and started again."""

    port: int
    handler: _Handler = field(default_factory=_Handler)
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.handler.messages if m["To"] == address]


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@dataclass
class Running:
    app: FastAPI
    runtime: ServiceRuntime[Any]
    http: httpx.AsyncClient  # no credentials: each call says who it is
    settings: Settings
    smtp: SmtpServer
    engine: AsyncEngine

    def topic(self, event_type: str) -> str:
        return self.settings.kafka.topic_prefix + event_type

    async def publish(self, *envelopes: Envelope[Event]) -> None:
        for e in envelopes:
            await self.runtime.producer.send_and_wait(
                self.topic(e.topic),
                value=encode_body(e),
                key=e.key.encode(),
                headers=[(k, v.encode()) for k, v in encode_headers(e).items()],
            )

    def internal(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    @staticmethod
    def user(
        workspace_id: uuid.UUID, role: Role = "owner", user_id: str | None = None
    ) -> dict[str, str]:
        token = issue_gateway_token(
            GATEWAY, user_id=user_id or f"user-{role}", workspace_id=workspace_id, role=role
        )
        return {"Authorization": f"Bearer {token}"}

    async def set_owner(self, workspace_id: uuid.UUID, email: str) -> dict[str, Any]:
        r = await self.http.put(
            f"/internal/v1/workspaces/{workspace_id}/owner",
            json={"user_id": str(uuid.uuid4()), "email": email},
            headers=self.internal(),
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def feed(
        self, workspace_id: uuid.UUID, role: Role = "owner", **params: Any
    ) -> dict[str, Any]:
        r = await self.http.get(
            f"/v1/workspaces/{workspace_id}/notifications",
            params=params,
            headers=self.user(workspace_id, role),
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def deliveries(self, workspace_id: uuid.UUID) -> list[dict[str, Any]]:
        r = await self.http.get(
            "/internal/v1/deliveries",
            params={"workspace_id": str(workspace_id)},
            headers=self.internal(),
        )
        assert r.status_code == 200, r.text
        found: list[dict[str, Any]] = r.json()
        return found

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.engine.connect() as conn:
            return list(await conn.execute(text(sql), params))


def service_settings(
    database: DatabaseSettings,
    kafka: KafkaSettings,
    prefix: str,
    smtp_port: int,
    **overrides: object,
) -> Settings:
    values: dict[str, Any] = {
        "kafka": kafka.model_copy(update={"topic_prefix": prefix}),
        "database": database,
        "consumer": ConsumerSettings(max_attempts=2, backoff_ms=10),
        "migrate_on_start": False,
        "relay_enabled": False,
        "service_tokens": [SecretStr(TOKEN)],
        "gateway": GATEWAY,
        "consumer_group": unique("notifier"),
        "smtp_port": smtp_port,
        "smtp_timeout_s": 3.0,
        "delivery_poll_s": 0.2,
        "delivery_senders": 1,
        "delivery_retry_initial_s": 0.3,
        "delivery_retry_max_s": 1.0,
        "digest_settle_s": 2.0,
        "post_failure_settle_s": 1.0,
        "held_sweep_s": 1.0,
        "reconnect_url_template": "https://app.example/w/{workspace_id}/accounts/{account_id}/reconnect",
    }
    return Settings(**(values | overrides))


async def wait_ready(runtime: ServiceRuntime[Any]) -> None:
    for _ in range(300):
        if (await runtime.readiness()).ready:
            return
        await asyncio.sleep(0.1)
    raise AssertionError((await runtime.readiness()).checks)


@pytest.fixture(scope="module")
async def service(
    database_settings: DatabaseSettings,
    kafka_settings: KafkaSettings,
    engine: AsyncEngine,
    smtp: SmtpServer,
) -> AsyncIterator[Running]:
    settings = service_settings(
        database_settings, kafka_settings, scratch_topic_prefix("notifier"), smtp.port
    )
    app = create_app(settings)
    runtime: ServiceRuntime[Any] = app.state.runtime
    async with app.router.lifespan_context(app):
        await wait_ready(runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://notifier", timeout=30
        ) as http:
            yield Running(app, runtime, http, settings, smtp, engine)
