"""Each refresh model on the real stack: Instagram and Threads are extended only inside their
window, LinkedIn accounts without a refresh token get reminders instead of refresh calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from mooring.testing import read_topic

from .conftest import Accounts, Control, Running, eventually

pytestmark = pytest.mark.connected

EXTEND_PATH = {
    "instagram": "/instagram/refresh_access_token",
    "threads": "/threads/refresh_access_token",
}


@pytest.mark.parametrize("platform", ["instagram", "threads"])
async def test_extend_in_place_tokens_are_extended_only_inside_their_window(
    platform: str, service: Running, accounts: Accounts, sim: Control
) -> None:
    account, tokens = await accounts.connect(platform)
    sweep = service.app.state.sweep
    path = EXTEND_PATH[platform]
    now = datetime.now(UTC)

    async def calls() -> int:
        return await sim.calls(platform, path)

    start = await calls()
    # Fresh (< 24 h old) and expiring soon: the platform would refuse; not due.
    await accounts.set_times(account.id, token_expires_at=now + timedelta(days=5))
    await sweep.run()
    # Old enough but 20 days left: outside the 10-day window; not due.
    await accounts.set_times(
        account.id,
        token_issued_at=now - timedelta(hours=25),
        token_expires_at=now + timedelta(days=20),
    )
    await sweep.run()
    assert (await accounts.get(account.id)).refreshed_at is None

    # Old enough and 9 days left: extended in place (the simulator is 25 h on, so it agrees).
    await sim.post("/clock", {"offset_seconds": 25 * 3600})
    await accounts.set_times(account.id, token_expires_at=now + timedelta(days=9))
    await sweep.run()

    async def extended() -> bool:
        return (await accounts.get(account.id)).refreshed_at is not None

    await eventually(extended)
    stored = await accounts.get(account.id)
    assert stored.status == "connected"
    assert stored.token_expires_at is not None
    assert stored.token_expires_at > now + timedelta(days=55)  # 60 days from the extension
    assert stored.credentials.access_token is not None
    # Extended in place: the same token value, now valid for longer.
    assert (
        stored.credentials.access_token.get_secret_value() == tokens.access_token.get_secret_value()
    )
    assert await calls() == start + 1


async def test_linkedin_without_refresh_tokens_gets_reminders_not_refresh_calls(
    service: Running, accounts: Accounts, sim: Control
) -> None:
    await sim.post("/config", {"linkedin_refresh_tokens": False})
    try:
        account, tokens = await accounts.connect("linkedin")
    finally:
        await sim.post("/config", {"linkedin_refresh_tokens": True})
    assert tokens.refresh_token is None
    sweep = service.app.state.sweep
    now = datetime.now(UTC)
    before = await sim.calls("linkedin", "/linkedin/oauth/v2/accessToken")

    await sweep.run()  # 60 days left: nothing yet
    await accounts.set_times(account.id, token_expires_at=now + timedelta(days=13))
    await sweep.run()  # the 14-day reminder
    await sweep.run()  # not again
    await accounts.set_times(account.id, token_expires_at=now + timedelta(days=13, hours=1))
    await sweep.run()  # a few hours closer, same threshold: not again
    await accounts.set_times(account.id, token_expires_at=now + timedelta(days=2))
    await sweep.run()  # the 3-day reminder
    await sweep.run()

    key = str(account.id).encode()
    records = await read_topic(
        service.settings.kafka.bootstrap_servers,
        service.topic("token.expiring"),
        until=lambda rs: sum(r.key == key for r in rs) >= 2,
        settle_s=1.5,
    )
    mine = [json.loads(r.value) for r in records if r.key == key]
    assert [(e["refreshable"], e["reminder_days"]) for e in mine] == [(False, 14), (False, 3)]
    assert await sim.calls("linkedin", "/linkedin/oauth/v2/accessToken") == before
    stored = await accounts.get(account.id)
    assert stored.status == "connected"
    assert stored.refreshed_at is None
