"""Check runs over ticks: a run that cannot finish in its window (or within a platform's daily
quota) carries on at the next tick from where it stopped; two replicas run each tick once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from health_checker.main import CHECK_JOB
from mooring.platforms.simulator import simulator_environment

pytestmark = [pytest.mark.integration, pytest.mark.connected, pytest.mark.usefixtures("clean")]


async def latest(service) -> dict:
    return (await service.http.get("/internal/v1/check-runs/latest")).json()


async def test_a_run_longer_than_its_window_carries_on_at_the_next_tick(
    sim, make_settings, start
) -> None:
    settings = make_settings(
        check_window_s=10,
        check_batch_size=10,
        platform_limits={"x": {"concurrency": 2, "rate_per_s": 5.0}},
    )
    async with start(settings) as service:
        for token in sim.mint("x", "window", 80):  # 16 s of work at 5/s: two windows
            await service.add("x", token)
        sim.control("DELETE", "/calls")

        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        first = await latest(service)
        assert first["status"] == "running"  # not finished: it waits for the next tick
        assert 0 < first["checked"] < 80
        assert first["batches"]["working"] == 0  # what was cut off went back with its cursor

        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        second = await latest(service)
        assert second["check_run_id"] == first["check_run_id"]
        assert (second["status"], second["ticks"]) == ("completed", 2)
        assert second["counts"] == {"ok": 80}
    assert sim.calls("x") == 80  # every account checked once: resumed, never restarted


async def test_a_spent_daily_quota_ends_the_tick_and_the_run_resumes_the_next_day(
    sim, make_settings, start, hc_engine
) -> None:
    # every check takes 6 of the quota up front (verify, refresh, verify, two attempts each)
    # and gives back what it did not send: 30 admits 25 one-call checks
    settings = make_settings(
        check_batch_size=10,
        platform_limits={"x": {"concurrency": 2, "rate_per_s": 1000.0, "daily_quota": 30}},
    )
    async with start(settings) as service:
        for token in sim.mint("x", "quota", 40):
            await service.add("x", token)
        for token in sim.mint("tiktok", "quota", 5):
            await service.add("tiktok", token)
        sim.control("DELETE", "/calls")

        started = time.monotonic()
        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        assert time.monotonic() - started < settings.check_window_s / 2  # did not wait it out
        first = await latest(service)
        assert first["status"] == "running"
        assert first["platforms"]["x"] == {"ok": 25}
        assert first["platforms"]["tiktok"] == {"ok": 5}
        assert sim.calls("x") == 25
        async with hc_engine.begin() as conn:
            spent = (
                await conn.execute(text("SELECT calls FROM hc_quota_usage WHERE platform = 'x'"))
            ).scalar_one()
            assert spent == 25
            # a day passes
            await conn.execute(text("UPDATE hc_quota_usage SET day = day - 1"))

        assert (await service.run_job(CHECK_JOB)).status == "succeeded"
        second = await latest(service)
        assert (second["check_run_id"], second["status"]) == (first["check_run_id"], "completed")
        assert second["platforms"]["x"] == {"ok": 40}
    assert sim.calls("x") == 40


async def test_two_replicas_run_each_tick_once(sim, make_settings, start, hc_engine) -> None:
    settings = make_settings(
        scheduler_enabled=True, scheduler_poll_s=0.2, check_every_s=10, check_offset_s=0
    )
    twin = settings.model_copy(update={})
    async with start(settings) as first, start(twin) as second:
        account = await first.add("x", await sim.connect("x", "ticks"))
        sim.revoke("x", "ticks")
        async with hc_engine.connect() as conn:
            added = (await conn.execute(text("SELECT now()"))).scalar_one()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            async with hc_engine.connect() as conn:
                runs = (
                    await conn.execute(
                        text(
                            "SELECT tick, status, started_at FROM job_runs WHERE job = :job "
                            "ORDER BY tick"
                        ),
                        {"job": CHECK_JOB},
                    )
                ).all()
            after = [r for r in runs if r.status == "succeeded" and r.started_at > added]
            if len(after) >= 2:
                break
            await asyncio.sleep(0.5)
        async with hc_engine.connect() as conn:
            check_runs = (
                await conn.execute(text("SELECT id, status FROM hc_check_runs ORDER BY started_at"))
            ).all()
        assert len({r.tick for r in runs}) == len(runs)  # one row per tick
        assert len(after) >= 2
        # each tick planned its own run (the previous one had completed) and nothing more
        assert len(check_runs) == len(runs)
        assert (await first.account(account.id)).status == "disconnected"
        disconnected = await second.events(
            "account.disconnected",
            until=lambda es: any(e["account_id"] == str(account.id) for e in es),
        )
        updated = await second.events(
            "account.updated", until=lambda es: any(e["account_id"] == str(account.id) for e in es)
        )
    assert [e["status"] for e in disconnected if e["account_id"] == str(account.id)] == [
        "token_expired"
    ]
    assert [e["status"] for e in updated if e["account_id"] == str(account.id)] == ["disconnected"]


@pytest.mark.e2e
async def test_the_check_runs_on_demand_from_the_command_line_with_progress(
    sim, hc_database, vault_settings, make_settings, start
) -> None:
    settings = make_settings()
    async with start(settings) as service:  # only to add the accounts with its vault
        accounts = [await service.add("youtube", t) for t in sim.mint("youtube", "cli", 4)]
        sim.revoke("youtube", "cli")
    env = {
        **os.environ,
        **simulator_environment(sim.url),
        "DATABASE_URL": hc_database.url,
        "MOORING_VAULT_KEYS": vault_settings.keys.get_secret_value(),
        "MOORING_VAULT_CURRENT_KEY_ID": vault_settings.current_key_id,
        "KAFKA_TOPIC_PREFIX": settings.kafka.topic_prefix,
        "HEALTH_CHECKER_MIGRATE_ON_START": "false",
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "health_checker", "job", CHECK_JOB],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{CHECK_JOB} succeeded" in done.stdout
    assert "4/4" in done.stderr or "4/4" in done.stdout  # the progress line
    async with start(settings) as service:
        for account in accounts:
            assert (await service.account(account.id)).status == "token_expired"
        # the incidents wait in the outbox for a running replica's relay, which publishes them
        events = await service.events(
            "account.disconnected",
            until=lambda es: (
                len({e["account_id"] for e in es} & {str(a.id) for a in accounts}) == 4
            ),
        )
    assert {e["account_id"] for e in events} >= {str(a.id) for a in accounts}
