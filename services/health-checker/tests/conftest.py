"""The health-checker as it runs: real PostgreSQL (a database of this module's own, so a run
plans exactly the accounts a test made), real Kafka (a scratch topic prefix per service), and
the platform simulator as a subprocess on a free port, driven through its control API.

Accounts hold real tokens: either from the platform's own consent flow through the adapters
(`Sim.connect`), or minted by the simulator for its users (`Sim.mint`, for volume).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from health_checker.config import Settings
from health_checker.main import create_app
from health_checker.service_layer.unit_of_work import HealthUnitOfWork
from mooring.accounts import Account
from mooring.accounts.tokens import credentials_from
from mooring.db.engine import create_engine
from mooring.events import Envelope, Event
from mooring.messaging.cloudevents import encode_body, encode_headers
from mooring.platforms import (
    BlueskyAdapter,
    OAuthPlatformAdapter,
    TokenSet,
    get_adapter,
    new_http_client,
)
from mooring.platforms.settings import HttpSettings, PlatformSettings
from mooring.platforms.simulator import simulator_settings
from mooring.service.runtime import ServiceRuntime
from mooring.settings import ConsumerSettings, DatabaseSettings, KafkaSettings, VaultSettings
from mooring.testing import (
    migrated_database,
    random_vault_settings,
    read_topic,
    scratch_topic_prefix,
    unique,
)

TOKEN = "test-service-token"
REDIRECT = "http://127.0.0.1:1/callback"
APP_PASSWORD = SecretStr("abcd-efgh-ijkl-mnop")
VAULT = random_vault_settings()
# The simulator's state prefix per platform (sim/README.md).
SIM_PREFIX = {
    "linkedin": "linkedin",
    "linkedin-page": "linkedin",
    "x": "x",
    "facebook": "facebook",
    "instagram": "instagram",
    "instagram-facebook": "facebook",
    "tiktok": "tiktok",
    "youtube": "google",
    "threads": "threads",
    "pinterest": "pinterest",
    "bluesky": "bluesky",
    "mastodon": "mastodon",
}
MASTODON_INSTANCE = "mastodon.social"
# Short timeouts and retries: the outage tests hang and fail requests on purpose.
TEST_HTTP = HttpSettings(
    timeout_seconds=1.0,
    connect_timeout_seconds=1.0,
    pool_timeout_seconds=2.0,
    retry_attempts=2,
    retry_budget_seconds=1.5,
    retry_wait_initial_seconds=0.05,
    retry_wait_max_seconds=0.1,
    retry_wait_jitter_seconds=0.0,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@dataclass
class Sim:
    url: str
    platforms: PlatformSettings

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.url}/_control{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.control("POST", "/reset", {})

    def calls(self, platform: str) -> int:
        prefix = SIM_PREFIX[platform]
        return sum(self.control("GET", f"/calls?platform={prefix}").get(prefix, {}).values())

    def timeline(self, platform: str, resolution_ms: int = 1000) -> list[tuple[float, int]]:
        prefix = SIM_PREFIX[platform]
        found = self.control(
            "GET", f"/calls/timeline?platform={prefix}&resolution_ms={resolution_ms}"
        )
        return [(start, calls) for start, calls in found[prefix]]

    def fault(self, platform: str, kind: str, **options: Any) -> str:
        rule = self.control(
            "POST", "/faults", {"platform": SIM_PREFIX[platform], "kind": kind, **options}
        )
        return str(rule["id"])

    def revoke(self, platform: str, user: str) -> int:
        body: dict[str, Any] = {"platform": SIM_PREFIX[platform], "user": user}
        if platform == "mastodon":
            body["instance"] = MASTODON_INSTANCE
        return int(self.control("POST", "/tokens/revoke", body)["revoked"])

    def expire_access(self, token: SecretStr) -> int:
        return int(
            self.control("POST", "/tokens/expire", {"token": token.get_secret_value()})["expired"]
        )

    def token_status(self, token: SecretStr) -> str:
        return str(self.control("GET", f"/tokens/{token.get_secret_value()}")["status"])

    async def connect(self, platform: str, user: str) -> TokenSet:
        """Real tokens through the platform's own flow (consent, code exchange, upgrade)."""
        async with new_http_client(self.platforms.http) as client:
            adapter = get_adapter(platform, self.platforms, client)
            if isinstance(adapter, BlueskyAdapter):
                return await adapter.login(handle=f"{user}.bsky.social", app_password=APP_PASSWORD)
            assert isinstance(adapter, OAuthPlatformAdapter)
            instance = (
                f"{self.url}/mastodon/{MASTODON_INSTANCE}" if platform == "mastodon" else None
            )
            request = await adapter.start_authorization(
                redirect_uri=REDIRECT, state=f"state-{user}", instance_url=instance
            )
            async with httpx.AsyncClient() as browser:
                consent = await browser.get(f"{request.url}&sim_user={user}&sim_decision=approve")
            assert consent.status_code == 302, consent.text[:200]
            location = httpx.URL(consent.headers["location"])
            return await adapter.exchange_code(
                code=location.params["code"],
                redirect_uri=REDIRECT,
                code_verifier=request.code_verifier,
                service_url=request.service_url,
            )

    def mint(self, platform: str, user: str, count: int) -> list[TokenSet]:
        """`count` token sets of `user`, issued by the simulator without the consent flow."""
        body: dict[str, Any] = {"platform": platform, "user": user, "count": count}
        service_url = None
        if platform == "mastodon":
            body["instance"] = MASTODON_INSTANCE
            service_url = f"{self.url}/mastodon/{MASTODON_INSTANCE}"
        if platform == "bluesky":
            service_url = f"{self.url}/bluesky"
        now = datetime.now(UTC)
        out = []
        for t in self.control("POST", "/tokens/issue", body)["tokens"]:
            access = t.get("access_token") or t["accessJwt"]
            refresh = t.get("refresh_token") or t.get("refreshJwt")
            out.append(
                TokenSet(
                    access_token=SecretStr(access),
                    refresh_token=SecretStr(refresh) if refresh else None,
                    issued_at=now,
                    service_url=service_url,
                )
            )
        return out


@pytest.fixture
def sim(sim_url: str) -> Sim:
    platforms = simulator_settings(sim_url).model_copy(update={"http": TEST_HTTP})
    sim = Sim(sim_url, platforms)
    sim.reset()
    return sim


@pytest.fixture(scope="module")
def hc_database(database_settings: DatabaseSettings) -> Iterator[DatabaseSettings]:
    """A database of this module's own: a check run plans every account in it."""
    with migrated_database(database_settings, "mooring_hc") as settings:
        yield settings


@pytest.fixture(scope="module")
async def hc_engine(hc_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(hc_database, application_name="health-checker-tests")
    yield engine
    await engine.dispose()


@pytest.fixture
async def clean(hc_engine: AsyncEngine) -> None:
    """Nothing left from the previous test: accounts, runs, deliveries, outbox, job runs."""
    async with hc_engine.begin() as conn:
        await conn.execute(
            text(
                "TRUNCATE accounts, outbox, inbox, job_runs, hc_check_runs, hc_check_batches, "
                "hc_quota_usage, hc_deliveries, hc_stuck_decisions"
            )
        )


def service_settings(
    database: DatabaseSettings,
    kafka: KafkaSettings,
    platforms: PlatformSettings,
    prefix: str,
    **overrides: Any,
) -> Settings:
    values: dict[str, Any] = {
        "kafka": kafka.model_copy(update={"topic_prefix": prefix}),
        "database": database,
        "vault": VAULT,
        "platforms": platforms,
        "consumer": ConsumerSettings(max_attempts=2, backoff_ms=10),
        "migrate_on_start": False,
        "relay_enabled": True,
        "scheduler_enabled": False,
        "service_tokens": [SecretStr(TOKEN)],
        "consumer_group": unique("health-checker"),
        "check_poll_s": 0.2,
        "check_window_s": 600,
        "platform_limits": {p: {"concurrency": 10, "rate_per_s": 1000.0} for p in SIM_PREFIX},
    }
    return Settings(**(values | overrides))


@dataclass
class Running:
    app: FastAPI
    runtime: ServiceRuntime[Any]
    http: httpx.AsyncClient  # carries the service token
    settings: Settings

    def uow(self) -> HealthUnitOfWork:
        uow: HealthUnitOfWork = self.runtime.unit_of_work()
        return uow

    def topic(self, event_type: str) -> str:
        return self.settings.kafka.topic_prefix + event_type

    async def run_job(self, name: str) -> Any:
        return await self.runtime.scheduler.run_now(name)

    async def add(
        self,
        platform: str,
        tokens: TokenSet,
        *,
        workspace_id: uuid.UUID | None = None,
        status: str = "connected",
        auth_failures: int = 0,
        active: bool = True,
    ) -> Account:
        account = Account.connect(
            workspace_id=workspace_id or uuid.uuid4(),
            platform=platform,
            platform_account_id=unique("pid"),
            credentials=credentials_from(tokens),
            token_expires_at=tokens.expires_at,
            token_issued_at=tokens.issued_at,
            refresh_expires_at=tokens.refresh_expires_at,
            service_url=tokens.service_url,
        )
        account.status = status  # type: ignore[assignment]
        account.auth_failures = auth_failures
        account.active = active
        async with self.uow() as uow:
            await uow.accounts.add(account)
            await uow.commit()
        return account

    async def account(self, account_id: uuid.UUID) -> Account:
        async with self.uow() as uow:
            found = await uow.accounts.get(account_id)
        assert found is not None
        return found

    async def publish(self, *envelopes: Envelope[Event]) -> None:
        for e in envelopes:
            await self.runtime.producer.send_and_wait(
                self.topic(e.topic),
                value=encode_body(e),
                key=e.key.encode(),
                headers=[(k, v.encode()) for k, v in encode_headers(e).items()],
            )

    async def metric(self, name: str, **labels: str) -> float:
        """One sample of the service's own `/metrics`, as a scraper reads it (0 when absent)."""
        text_format = (await self.http.get("/metrics")).text
        for family in text_string_to_metric_families(text_format):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return 0.0

    async def events(
        self, event_type: str, until: Any, timeout_s: float = 20.0
    ) -> list[dict[str, Any]]:
        """The payloads on `event_type`'s topic once `until(payloads)` holds."""

        def decoded(records: list[Any]) -> list[dict[str, Any]]:
            return [json.loads(r.value) for r in records]

        records = await read_topic(
            self.settings.kafka.bootstrap_servers,
            self.topic(event_type),
            until=lambda rs: until(decoded(rs)),
            timeout_s=timeout_s,
            settle_s=0.5,
        )
        return decoded(records)


async def wait_ready(runtime: ServiceRuntime[Any]) -> None:
    for _ in range(300):
        if (await runtime.readiness()).ready:
            return
        await asyncio.sleep(0.1)
    raise AssertionError((await runtime.readiness()).checks)


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Running]:
    app = create_app(settings)
    runtime: ServiceRuntime[Any] = app.state.runtime
    async with app.router.lifespan_context(app):
        await wait_ready(runtime)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://health-checker",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        ) as http:
            yield Running(app, runtime, http, settings)


@pytest.fixture
def make_settings(hc_database: DatabaseSettings, kafka_settings: KafkaSettings, sim: Sim) -> Any:
    def make(**overrides: Any) -> Settings:
        return service_settings(
            hc_database, kafka_settings, sim.platforms, scratch_topic_prefix("hc"), **overrides
        )

    return make


@pytest.fixture
def vault_settings() -> VaultSettings:
    """The vault keys every health-checker of this session seals with."""
    return VAULT


@pytest.fixture
def start() -> Any:
    """`async with start(settings) as service:` a running health-checker."""
    return running
