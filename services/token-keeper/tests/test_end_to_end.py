"""One rotating-token account refreshed end to end on the real stack: the sweep finds it due,
publishes `token.expiring`, a worker refreshes it at the simulator, the new tokens are stored,
and `token.refreshed` reaches Kafka."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from mooring.testing import read_topic

from .conftest import Accounts, Control, Running, eventually

pytestmark = pytest.mark.connected


async def test_a_due_x_account_is_refreshed_from_sweep_to_kafka(
    service: Running, accounts: Accounts, sim: Control
) -> None:
    account, tokens = await accounts.connect("x")
    await accounts.make_due(account.id)
    before = await sim.calls("x", "/x/2/oauth2/token")

    report = await service.app.state.sweep.run()
    assert report.refresh >= 1

    async def refreshed() -> bool:
        stored = await accounts.get(account.id)
        return stored.refreshed_at is not None

    await eventually(refreshed)
    stored = await accounts.get(account.id)
    assert stored.status == "connected"
    new_access = stored.credentials.access_token
    new_refresh = stored.credentials.refresh_token
    assert new_access is not None
    assert new_refresh is not None
    assert new_access.get_secret_value() != tokens.access_token.get_secret_value()
    assert tokens.refresh_token is not None
    assert new_refresh.get_secret_value() != tokens.refresh_token.get_secret_value()
    # The platform agrees: the new pair works, the old refresh token died (X rotates).
    assert (await sim.token(new_access.get_secret_value()))["status"] == "ok"
    assert (await sim.token(tokens.refresh_token.get_secret_value()))["status"] == "revoked"
    assert await sim.calls("x", "/x/2/oauth2/token") == before + 1
    # Scheduled from this answer's expires_in (2 h), not from the old expiry.
    assert stored.token_expires_at is not None
    assert stored.token_issued_at is not None
    lifetime = (stored.token_expires_at - stored.token_issued_at).total_seconds()
    assert abs(lifetime - 7200) < 5

    kafka = service.settings.kafka.bootstrap_servers
    expiring = await read_topic(
        kafka,
        service.topic("token.expiring"),
        until=lambda rs: any(r.key == str(account.id).encode() for r in rs),
    )
    mine = [json.loads(r.value) for r in expiring if r.key == str(account.id).encode()]
    assert len(mine) == 1
    assert mine[0]["refreshable"] is True
    refreshed_events = await read_topic(
        kafka,
        service.topic("token.refreshed"),
        until=lambda rs: any(r.key == str(account.id).encode() for r in rs),
    )
    done = [json.loads(r.value) for r in refreshed_events if r.key == str(account.id).encode()]
    assert len(done) == 1
    assert done[0]["platform"] == "x"
    for record in [*expiring, *refreshed_events]:
        body = record.value.decode()
        assert new_access.get_secret_value() not in body
        assert new_refresh.get_secret_value() not in body


async def test_an_account_whose_secret_does_not_open_is_skipped_and_the_rest_refreshed(
    service: Running, accounts: Accounts, sim: Control
) -> None:
    good, _ = await accounts.connect("x")
    bad, _ = await accounts.connect("x")
    # Another row's ciphertext: it names a known key but is bound to another account id,
    # as a row restored from elsewhere or sealed under a key since removed would be.
    async with accounts.engine.begin() as conn:
        await conn.execute(
            text("UPDATE accounts SET credentials = (SELECT credentials FROM accounts "
                 "WHERE id = :good) WHERE id = :bad"),
            {"good": good.id, "bad": bad.id},
        )  # fmt: skip
    await accounts.make_due(good.id)
    await accounts.make_due(bad.id)

    report = await service.app.state.sweep.run()

    assert report.unreadable >= 1
    assert report.refresh >= 1

    async def refreshed() -> bool:
        return (await accounts.get(good.id)).refreshed_at is not None

    await eventually(refreshed)
    async with accounts.engine.connect() as conn:
        status = (
            await conn.execute(text("SELECT status FROM accounts WHERE id = :id"), {"id": bad.id})
        ).scalar_one()
    assert status == "connected"  # skipped, not judged: the platform never said it was dead
