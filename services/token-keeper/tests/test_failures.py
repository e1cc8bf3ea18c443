"""The failure taxonomy on the real stack: an outage changes nothing and heals, a revoked token
disconnects exactly once, a refresh token lost in a race is not taken for a revocation."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from mooring.accounts.tokens import token_set_of
from mooring.platforms import get_adapter, new_http_client
from mooring.platforms.simulator import simulator_settings
from mooring.service.runtime import ServiceRuntime
from mooring.settings import DatabaseSettings, KafkaSettings, VaultSettings
from mooring.testing import read_topic, scratch_topic_prefix
from token_keeper.main import create_app

from .conftest import TOKEN, Accounts, Control, Running, eventually, service_settings, wait_ready

pytestmark = pytest.mark.connected

TOKEN_PATH = "/x/2/oauth2/token"


@pytest.fixture(scope="module")
async def service(
    database_settings: DatabaseSettings,
    kafka_settings: KafkaSettings,
    vault_settings: VaultSettings,
    sim_url: str,
) -> AsyncIterator[Running]:
    # Short cooldowns, so a test sees the retries a real deployment spaces by minutes.
    settings = service_settings(
        database_settings,
        kafka_settings,
        vault_settings,
        sim_url,
        scratch_topic_prefix("tk-fail"),
        cooldown_s=1,
        max_backoff_s=2,
    )
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


async def keyed(
    service: Running, event_type: str, ids: set[uuid.UUID], *, wait_s: float, expect: int = 0
) -> list[dict[str, Any]]:
    """Every `event_type` record about one of `ids`: once `expect` of them are there (the relay
    publishes after the commit a test saw, later still on a busy machine), then `wait_s` more
    for a straggler or a duplicate."""
    keys = {str(i).encode() for i in ids}
    records = await read_topic(
        service.settings.kafka.bootstrap_servers,
        service.topic(event_type),
        until=lambda rs: sum(r.key in keys for r in rs) >= expect,
        timeout_s=wait_s + 30,
        settle_s=wait_s,
    )
    return [json.loads(r.value) for r in records if r.key in keys]


async def test_an_outage_changes_no_status_and_the_accounts_refresh_once_it_is_over(
    service: Running, accounts: Accounts, sim: Control
) -> None:
    made = [(await accounts.connect("x"))[0] for _ in range(3)]
    ids = {a.id for a in made}
    for account in made:
        await accounts.make_due(account.id)
    sweep = service.app.state.sweep

    # Every refresh answers 503: one sweep's worth of refreshes fails, nothing changes status.
    await sim.post(
        "/faults", {"platform": "x", "path": "/2/oauth2/token", "kind": "error", "status": 503}
    )
    await sweep.run()

    async def all_failed(prefix: str) -> bool:
        stored = [await accounts.get(i) for i in ids]
        return all((s.last_failure or "").startswith(prefix) for s in stored)

    await eventually(lambda: all_failed("transient:http_503"))
    for account_id in ids:
        stored = await accounts.get(account_id)
        assert stored.status == "connected"
        assert stored.refresh_failures == 1
        assert stored.next_refresh_at is not None

    # Then 429 with Retry-After: the retry honours it, and the day is not counted twice.
    await sim.clear_faults()
    await sim.post(
        "/faults",
        {"platform": "x", "path": "/2/oauth2/token", "kind": "rate_limit", "retry_after": 3},
    )
    await eventually(lambda: _cooled(accounts, ids))
    await sweep.run(retries_only=True)
    await eventually(lambda: all_failed("transient:http_429"))
    for account_id in ids:
        stored = await accounts.get(account_id)
        assert stored.status == "connected"
        assert stored.refresh_failures == 1  # counted at most once a day
        assert stored.next_refresh_at is not None
        assert stored.last_refresh_failure_at is not None
        assert stored.next_refresh_at - stored.last_refresh_failure_at >= timedelta(seconds=3)

    # The platform is back: the next retry sweep refreshes every one of them.
    await sim.clear_faults()
    await eventually(lambda: _cooled(accounts, ids))
    await sweep.run(retries_only=True)

    async def all_refreshed() -> bool:
        stored = [await accounts.get(i) for i in ids]
        return all(s.refreshed_at is not None for s in stored)

    await eventually(all_refreshed)
    for account_id in ids:
        stored = await accounts.get(account_id)
        assert stored.status == "connected"
        assert stored.refresh_failures == 0
        assert stored.last_failure is None
    assert await keyed(service, "account.disconnected", ids, wait_s=1) == []
    assert await keyed(service, "token.expiring.dlq", ids, wait_s=0.5) == []


async def _cooled(accounts: Accounts, ids: set[uuid.UUID]) -> bool:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    stored = [await accounts.get(i) for i in ids]
    return all(s.next_refresh_at is None or s.next_refresh_at <= now for s in stored)


async def test_a_revoked_token_disconnects_the_account_exactly_once(
    service: Running, accounts: Accounts, sim: Control
) -> None:
    account, tokens = await accounts.connect("x")
    assert tokens.refresh_token is not None
    await sim.post("/tokens/revoke", {"token": tokens.refresh_token.get_secret_value()})
    await accounts.make_due(account.id)

    await service.app.state.sweep.run()
    await service.app.state.sweep.run()  # a second sweep (or a redelivery) changes nothing
    answer = await service.get_token(account.id)

    async def expired() -> bool:
        return (await accounts.get(account.id)).status == "token_expired"

    await eventually(expired)
    assert answer.status_code == 409
    assert answer.json()["type"] == "urn:mooring:problem:account-not-connected"
    events = await keyed(service, "account.disconnected", {account.id}, wait_s=2, expect=1)
    assert len(events) == 1
    assert events[0]["reason"] == "revoked"
    assert events[0]["status"] == "token_expired"
    assert (await accounts.get(account.id)).last_failure is not None


async def test_a_refresh_token_rotated_elsewhere_a_moment_earlier_is_not_a_revocation(
    service: Running, accounts: Accounts, sim: Control, sim_url: str
) -> None:
    account, _ = await accounts.connect("x")
    # Another worker refreshed a moment ago and its answer never got stored: the refresh token
    # we hold is dead, the access token still works.
    platforms = simulator_settings(sim_url)
    async with new_http_client(platforms.http) as client:
        await get_adapter("x", platforms, client).refresh(token_set_of(account))
    await accounts.make_due(account.id)

    await service.app.state.sweep.run()

    async def failed_once() -> bool:
        return (await accounts.get(account.id)).last_failure is not None

    await eventually(failed_once)
    stored = await accounts.get(account.id)
    assert stored.status == "connected"
    assert (stored.last_failure or "").startswith("transient:")
    assert await keyed(service, "account.disconnected", {account.id}, wait_s=1) == []
