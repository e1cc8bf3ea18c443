"""One account checked end to end on the real stack: the job, a verify against the simulator,
the transition, and `account.disconnected` on Kafka carrying the check run's id."""

from __future__ import annotations

import uuid

import pytest

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
