"""One account checked end to end on the real stack: the job, a verify against the simulator,
the transition, and `account.disconnected` on Kafka carrying the check run's id; an account
whose sealed credentials do not open is skipped without holding back its batch."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from health_checker.main import CHECK_JOB

pytestmark = [pytest.mark.integration, pytest.mark.connected, pytest.mark.usefixtures("clean")]


async def test_a_revoked_account_is_expired_and_the_incident_reaches_kafka(
    sim, make_settings, start
) -> None:
    tokens = await sim.connect("x", "e2e-revoked")
    async with start(make_settings()) as service:
        account = await service.add("x", tokens)
        healthy = await service.add("x", await sim.connect("x", "e2e-healthy"))
        assert sim.revoke("x", "e2e-revoked") >= 1

        job = await service.run_job(CHECK_JOB)
        assert job.status == "succeeded", job.error

        latest = (await service.http.get("/internal/v1/check-runs/latest")).json()
        run_id = latest["check_run_id"]
        assert latest["status"] == "completed"
        assert latest["counts"] == {"expired": 1, "ok": 1}
        assert latest["finished_at"] is not None

        expired = await service.account(account.id)
        assert (expired.status, expired.auth_failures) == ("token_expired", 1)
        assert (await service.account(healthy.id)).status == "connected"

        events = await service.events(
            "account.disconnected",
            until=lambda es: any(e["account_id"] == str(account.id) for e in es),
        )
        mine = [e for e in events if e["account_id"] == str(account.id)]
        assert len(mine) == 1
        assert mine[0]["status"] == "token_expired"
        assert mine[0]["reason"] == "revoked"
        assert uuid.UUID(mine[0]["check_run_id"]) == uuid.UUID(run_id)


async def test_an_account_whose_secret_does_not_open_holds_back_no_other_account(
    sim, make_settings, start, hc_engine
) -> None:
    revoked = await sim.connect("x", "e2e-beside-unreadable")
    async with start(make_settings()) as service:
        account = await service.add("x", revoked)
        unreadable = await service.add("x", await sim.connect("x", "e2e-unreadable"))
        # Another row's ciphertext: bound to another account id, as a row restored from
        # elsewhere or sealed under a key since removed would be. It shares the batch.
        async with hc_engine.begin() as conn:
            await conn.execute(
                text("UPDATE accounts SET credentials = (SELECT credentials FROM accounts "
                     "WHERE id = :other) WHERE id = :id"),
                {"other": account.id, "id": unreadable.id},
            )  # fmt: skip
        assert sim.revoke("x", "e2e-beside-unreadable") >= 1

        job = await service.run_job(CHECK_JOB)
        assert job.status == "succeeded", job.error

        latest = (await service.http.get("/internal/v1/check-runs/latest")).json()
        assert latest["status"] == "completed"
        assert latest["counts"] == {"expired": 1, "error": 1}
        assert (await service.account(account.id)).status == "token_expired"
        async with hc_engine.connect() as conn:
            status = (
                await conn.execute(
                    text("SELECT status FROM accounts WHERE id = :id"), {"id": unreadable.id}
                )
            ).scalar_one()
        assert status == "connected"  # skipped, not judged: the platform never said it was dead
