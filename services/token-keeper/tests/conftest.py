"""A running token-keeper (real PostgreSQL, Kafka and platform simulator) and real accounts.

Accounts are connected the way the connector does it: the simulator's consent (non-interactive
`sim_user`/`sim_decision=approve`), the adapter's code exchange, then `Account.connect` with the
tokens the simulator issued. Each test deletes the accounts it made, so a later sweep never
touches them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.accounts.model import Account
from mooring.accounts.tokens import credentials_from
from mooring.db.engine import create_engine, create_session_factory
from mooring.messaging.outbox import Outbox
from mooring.platforms import (
    OAuthPlatformAdapter,
    PlatformSettings,
    TokenSet,
    get_oauth_adapter,
    new_http_client,
)
from mooring.platforms.simulator import simulator_settings
from mooring.service.runtime import ServiceRuntime
from mooring.settings import ConsumerSettings, DatabaseSettings, KafkaSettings, VaultSettings
from mooring.testing import (
    migrated_database,
    random_vault_settings,
    scratch_topic_prefix,
    unique,
)
from mooring.uow import UnitOfWorkDeps
from mooring.vault import Vault
from token_keeper.config import Settings
from token_keeper.main import create_app
from token_keeper.service_layer.unit_of_work import KeeperUnitOfWork

TOKEN = "test-service-token"
REDIRECT = "http://127.0.0.1:1/callback"
# The simulator's state prefix per platform (sim/README.md).
SIM_PREFIX = {"x": "x", "instagram": "instagram", "threads": "threads", "linkedin": "linkedin"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def database_settings(infra: tuple[DatabaseSettings, KafkaSettings]) -> Iterator[DatabaseSettings]:
    """token-keeper's own database. A sweep walks every account there is: in the suite's shared
    database it would also find the accounts other packages' tests left (due ones to refresh,
    ones sealed with other keyrings), and a test's own events would queue behind theirs."""
    with migrated_database(infra[0], "mooring_tk") as settings:
        yield settings


@pytest.fixture(scope="session")
async def engine(database_settings: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_settings, application_name="token-keeper-tests")
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sim_url() -> Iterator[str]:
    """The platform simulator, a subprocess on a free loopback port for the whole session."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "platform_sim", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while True:
            if process.poll() is not None:
                pytest.fail("the simulator exited at start-up")
            try:
                if httpx.get(f"{url}/_control/health", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the simulator did not become healthy")
            time.sleep(0.05)
        yield url
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Control:
    """The simulator's control API."""

    def __init__(self, base: str) -> None:
        self.base = f"{base}/_control"

    async def post(self, path: str, body: object) -> Any:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"{self.base}{path}", json=body)
        response.raise_for_status()
        return response.json()

    async def get(self, path: str) -> Any:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{self.base}{path}")
        response.raise_for_status()
        return response.json()

    async def delete(self, path: str) -> Any:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.delete(f"{self.base}{path}")
        response.raise_for_status()
        return response.json()

    async def calls(self, platform: str, path: str) -> int:
        counts = await self.get(f"/calls?platform={platform}")
        return int(counts.get(SIM_PREFIX.get(platform, platform), {}).get(path, 0))

    async def token(self, token: str) -> Any:
        return await self.get(f"/tokens/{token}")

    async def clear_faults(self) -> None:
        await self.delete("/faults")


@pytest.fixture
async def sim(sim_url: str) -> AsyncIterator[Control]:
    control = Control(sim_url)
    yield control
    await control.clear_faults()
    await control.post("/clock", {"offset_seconds": 0})


@pytest.fixture(scope="session")
def vault_settings() -> VaultSettings:
    """One keyring for the session: every process of a test opens the same secrets."""
    return random_vault_settings()


def service_settings(
    database: DatabaseSettings,
    kafka: KafkaSettings,
    vault: VaultSettings,
    sim_url: str,
    prefix: str,
    **overrides: Any,
) -> Settings:
    values: dict[str, Any] = {
        "kafka": kafka.model_copy(update={"topic_prefix": prefix}),
        "database": database,
        "vault": vault,
        "consumer": ConsumerSettings(max_attempts=2, backoff_ms=10),
        "migrate_on_start": False,
        "service_tokens": [SecretStr(TOKEN)],
        "platforms": simulator_settings(sim_url),
        "scheduler_enabled": False,  # tests run the sweep themselves, once, when they want it
        "consumer_group": unique("token-keeper"),
        "worker_concurrency": 8,
        "worker_batch_size": 64,
        **overrides,
    }
    return Settings(**values)


async def wait_ready(runtime: ServiceRuntime[Any]) -> None:
    for _ in range(300):
        if (await runtime.readiness()).ready:
            return
        await asyncio.sleep(0.1)
    raise AssertionError((await runtime.readiness()).checks)


@dataclass
class Running:
    app: FastAPI
    runtime: ServiceRuntime[Any]
    http: httpx.AsyncClient  # carries the service token
    settings: Settings

    def topic(self, event_type: str) -> str:
        return self.settings.kafka.topic_prefix + event_type

    async def get_token(self, account_id: uuid.UUID) -> httpx.Response:
        return await self.http.get(f"/internal/v1/accounts/{account_id}/token")


@pytest.fixture(scope="module")
async def service(
    database_settings: DatabaseSettings,
    kafka_settings: KafkaSettings,
    vault_settings: VaultSettings,
    sim_url: str,
) -> AsyncIterator[Running]:
    settings = service_settings(
        database_settings, kafka_settings, vault_settings, sim_url, scratch_topic_prefix("tk")
    )
    async with running(settings) as started:
        yield started


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Running]:
    """A token-keeper app on `settings`, started, ready, with an ASGI client."""
    app = create_app(settings)
    runtime: ServiceRuntime[Any] = app.state.runtime
    async with app.router.lifespan_context(app):
        await wait_ready(runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://token-keeper",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=60,
        ) as http:
            yield Running(app, runtime, http, settings)


def sql_uow(engine: AsyncEngine, vault: VaultSettings) -> Callable[[], KeeperUnitOfWork]:
    deps = UnitOfWorkDeps(
        sessions=create_session_factory(engine),
        outbox=Outbox(),
        source="token-keeper-test",
        vault=Vault.from_settings(vault),
    )
    return lambda: KeeperUnitOfWork(deps)


async def consent(adapter: OAuthPlatformAdapter, user: str) -> TokenSet:
    """Authorize as `user` on the simulator's consent page and exchange the code."""
    request = await adapter.start_authorization(redirect_uri=REDIRECT, state=f"state-{user}")
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(f"{request.url}&sim_user={user}&sim_decision=approve")
    assert answer.status_code == 302, answer.text[:200]
    location = httpx.URL(answer.headers["location"])
    return await adapter.exchange_code(
        code=location.params["code"], redirect_uri=REDIRECT, code_verifier=request.code_verifier
    )


@dataclass
class Accounts:
    """Connects real simulator users and stores them as accounts; deletes them afterwards."""

    engine: AsyncEngine
    uow: Callable[[], KeeperUnitOfWork]
    platforms: PlatformSettings
    made: list[uuid.UUID] = field(default_factory=list)

    async def connect(
        self, platform: str = "x", *, user: str | None = None, **details: Any
    ) -> tuple[Account, TokenSet]:
        user = user or unique(f"tk-{platform}")
        async with new_http_client(self.platforms.http) as client:
            adapter = get_oauth_adapter(platform, self.platforms, client)
            tokens = await consent(adapter, user)  # long-lived already where there is one
            profile = await adapter.fetch_profile(tokens)
        return await self.add(platform, tokens, profile.platform_account_id, **details), tokens

    async def add(
        self, platform: str, tokens: TokenSet, platform_account_id: str, **details: Any
    ) -> Account:
        account = Account.connect(
            workspace_id=uuid.uuid4(),
            platform=platform,
            platform_account_id=platform_account_id,
            credentials=credentials_from(tokens),
            token_expires_at=tokens.expires_at,
            token_issued_at=tokens.issued_at,
            refresh_expires_at=tokens.refresh_expires_at,
            **details,
        )
        async with self.uow() as uow:
            await uow.accounts.add(account)
            await uow.commit()
        self.made.append(account.id)
        return account

    async def get(self, account_id: uuid.UUID) -> Account:
        async with self.uow() as uow:
            account = await uow.accounts.get(account_id)
        assert account is not None
        return account

    async def set_times(self, account_id: uuid.UUID, **columns: datetime | None) -> None:
        """Move an account's token times (what a test would otherwise wait hours for)."""
        assignments = ", ".join(f"{name} = :{name}" for name in columns)
        async with self.engine.begin() as conn:
            await conn.execute(
                text(f"UPDATE accounts SET {assignments} WHERE id = :id"),  # noqa: S608 - names are the test's
                {"id": account_id, **columns},
            )

    async def make_due(
        self, account_id: uuid.UUID, *, in_: timedelta = timedelta(minutes=5)
    ) -> None:
        await self.set_times(account_id, token_expires_at=datetime.now(UTC) + in_)

    async def forget(self) -> None:
        if self.made:
            async with self.engine.begin() as conn:
                await conn.execute(
                    text("DELETE FROM accounts WHERE id = ANY(:ids)"), {"ids": self.made}
                )
        self.made.clear()


@pytest.fixture
async def accounts(
    engine: AsyncEngine, vault_settings: VaultSettings, sim_url: str
) -> AsyncIterator[Accounts]:
    made = Accounts(engine, sql_uow(engine, vault_settings), simulator_settings(sim_url))
    yield made
    await made.forget()


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 60.0, every_s: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(every_s)
    raise AssertionError("condition not met in time")
