"""Per-platform limits hold for the replica set: two replicas share a run, and the simulator's
calls over time show each platform's configured rate respected."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from health_checker.main import CHECK_JOB

pytestmark = [pytest.mark.integration, pytest.mark.connected, pytest.mark.usefixtures("clean")]

RATE = 20.0  # requests per second, per platform, for the whole replica set
TOLERANCE = 2  # one request of burst, one more where a turn passes between replicas


def busiest_second(slots: list[tuple[float, int]]) -> int:
    """The most requests in any one-second window, from 100 ms slots."""
    per_slot = {round(at * 10): calls for at, calls in slots}
    return max(
        sum(per_slot.get(start + i, 0) for i in range(10))
        for start in range(min(per_slot), max(per_slot) + 1)
    )


async def test_two_replicas_share_a_run_within_each_platforms_rate(
    sim, make_settings, start, hc_engine
) -> None:
    limits = {
        "x": {"concurrency": 4, "rate_per_s": RATE},
        "tiktok": {"concurrency": 4, "rate_per_s": RATE},
    }
    settings = make_settings(platform_limits=limits, check_turn_s=1.0, check_batch_size=20)
    # the same service twice: one topic prefix, one consumer group, one database
    twin = settings.model_copy(update={})
    async with start(settings) as first, start(twin) as second:
        for token in sim.mint("x", "rate-x", 160):
            await first.add("x", token)
        for token in sim.mint("tiktok", "rate-tiktok", 80):
            await first.add("tiktok", token)
        sim.control("DELETE", "/calls")

        job = await first.run_job(CHECK_JOB)
        assert job.status == "succeeded", job.error
        run = (await second.http.get("/internal/v1/check-runs/latest")).json()
        assert run["status"] == "completed"
        assert run["counts"] == {"ok": 240}

        async with hc_engine.connect() as conn:
            owners = (
                await conn.execute(
                    text("SELECT platform, claimed_by FROM hc_check_batches WHERE run_id = :id"),
                    {"id": run["check_run_id"]},
                )
            ).all()
        workers = {owner for _, owner in owners}
        assert len(workers) == 2, workers  # both replicas worked the run

    for platform, accounts in (("x", 160), ("tiktok", 80)):
        slots = sim.timeline(platform, resolution_ms=100)
        assert sum(calls for _, calls in slots) == accounts  # one verify each
        assert busiest_second(slots) <= RATE + TOLERANCE, platform
        span = slots[-1][0] + 0.1 - slots[0][0]
        assert accounts / span <= RATE * 1.05, (platform, span)
