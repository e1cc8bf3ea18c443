"""`GET /internal/v1/accounts/{id}/token` on a running service: a token valid for the margin,
refreshed first when it would not be, clear problems otherwise, and the token nowhere else."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mooring.settings import DatabaseSettings, KafkaSettings, VaultSettings
from mooring.testing import scratch_topic_prefix

from .conftest import Accounts, Control, Running, running, service_settings

pytestmark = pytest.mark.connected

TOKEN_PATH = "/x/2/oauth2/token"


async def test_a_token_that_lasts_the_margin_is_served_without_a_platform_call(
    service: Running, accounts: Accounts, sim: Control
) -> None:
    account, tokens = await accounts.connect("x")
    before = await sim.calls("x", TOKEN_PATH)
    answer = await service.get_token(account.id)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["access_token"] == tokens.access_token.get_secret_value()
    assert body["platform"] == "x"
    assert datetime.fromisoformat(body["expires_at"]) > datetime.now(UTC) + timedelta(hours=1)
    assert await sim.calls("x", TOKEN_PATH) == before


async def test_a_token_about_to_expire_is_refreshed_first_and_never_logged(
    service: Running, accounts: Accounts, sim: Control, caplog: pytest.LogCaptureFixture
) -> None:
    account, tokens = await accounts.connect("x")
    await accounts.make_due(account.id, in_=timedelta(minutes=2))  # inside the 5 min margin
    before = await sim.calls("x", TOKEN_PATH)
    with caplog.at_level(logging.DEBUG):
        answer = await service.get_token(account.id)
    assert answer.status_code == 200, answer.text
    fresh = answer.json()["access_token"]
    assert fresh != tokens.access_token.get_secret_value()
    assert (await sim.token(fresh))["status"] == "ok"
    assert await sim.calls("x", TOKEN_PATH) == before + 1
    stored = await accounts.get(account.id)
    assert stored.credentials.access_token is not None
    assert stored.credentials.access_token.get_secret_value() == fresh
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert fresh not in logged
    metrics = (await service.http.get("/metrics")).text
    assert fresh not in metrics
    assert 'mooring_token_keeper_tokens_served_total{platform="x",refreshed="true"}' in metrics


async def test_the_route_answers_problems_for_unknown_disconnected_and_inactive_accounts(
    service: Running, accounts: Accounts
) -> None:
    unknown = await service.get_token(uuid.uuid4())
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["type"] == "urn:mooring:problem:account-not-found"

    bad = await service.http.get("/internal/v1/accounts/not-a-uuid/token")
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"

    anonymous = await service.http.get(
        f"/internal/v1/accounts/{uuid.uuid4()}/token", headers={"Authorization": "Bearer wrong"}
    )
    assert anonymous.status_code == 401

    inactive, _ = await accounts.connect("x", active=False)
    answer = await service.get_token(inactive.id)
    assert answer.status_code == 409
    assert answer.json()["type"] == "urn:mooring:problem:account-inactive"
    assert "access_token" not in answer.text

    expired, _ = await accounts.connect("x", status="token_expired")
    answer = await service.get_token(expired.id)
    assert answer.status_code == 409
    assert answer.json()["type"] == "urn:mooring:problem:account-not-connected"
    assert answer.json()["account_status"] == "token_expired"


async def test_a_platform_outage_answers_503_with_retry_after_and_then_cools_down(
    service: Running, accounts: Accounts, sim: Control
) -> None:
    account, _ = await accounts.connect("x")
    await accounts.make_due(account.id, in_=timedelta(minutes=2))
    await sim.post(
        "/faults", {"platform": "x", "path": "/2/oauth2/token", "kind": "error", "status": 503}
    )
    before = await sim.calls("x", TOKEN_PATH)
    first = await service.get_token(account.id)
    assert first.status_code == 503
    assert first.json()["type"] == "urn:mooring:problem:refresh-unavailable"
    assert int(first.headers["retry-after"]) >= 1
    called = await sim.calls("x", TOKEN_PATH) - before
    assert called >= 1
    # Cooling down: a second caller is answered at once, without another platform call.
    second = await service.get_token(account.id)
    assert second.status_code == 503
    assert await sim.calls("x", TOKEN_PATH) - before == called
    stored = await accounts.get(account.id)
    assert stored.status == "connected"
    assert stored.last_failure == "transient:http_503"


async def test_a_caller_waiting_behind_a_hanging_refresh_gets_503_not_an_error(
    database_settings: DatabaseSettings,
    kafka_settings: KafkaSettings,
    vault_settings: VaultSettings,
    sim_url: str,
    accounts: Accounts,
    sim: Control,
) -> None:
    # The database lets a statement (here: the wait for the row lock) last 1 s; the platform
    # takes 3 s to answer the refresh that holds the lock.
    settings = service_settings(
        database_settings.model_copy(update={"statement_timeout_ms": 1000}),
        kafka_settings,
        vault_settings,
        sim_url,
        scratch_topic_prefix("tk-hang"),
    )
    account, _ = await accounts.connect("x")
    await accounts.make_due(account.id, in_=timedelta(minutes=2))
    await sim.post(
        "/faults", {"platform": "x", "path": "/2/oauth2/token", "kind": "latency", "seconds": 3}
    )
    before = await sim.calls("x", TOKEN_PATH)
    async with running(settings) as hung:
        first = asyncio.create_task(hung.get_token(account.id))
        await asyncio.sleep(0.5)  # the first caller holds the lock, waiting on the platform
        second = await hung.get_token(account.id)
        assert second.status_code == 503, second.text
        assert second.json()["reason"] == "refresh_in_progress"
        assert second.headers["retry-after"] == "1"
        done = await first
    assert done.status_code == 200, done.text
    assert await sim.calls("x", TOKEN_PATH) == before + 1
