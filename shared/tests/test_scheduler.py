"""Scheduled jobs on PostgreSQL: one run per tick across replicas, missed ticks once, crashes seen."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import psycopg
import pytest

from mooring.service.metrics import Metrics
from mooring.service.scheduler import Job, JobBusyError, JobContext, Scheduler
from mooring.settings import DatabaseSettings
from mooring.testing import unique

pytestmark = pytest.mark.integration


def replica(database_settings: DatabaseSettings, metrics: Metrics | None = None) -> Scheduler:
    return Scheduler(
        service="scheduler-test",
        libpq_url=database_settings.libpq_url,
        metrics=metrics or Metrics(service="scheduler-test"),
        poll_s=0.1,
        progress_every_s=0.1,
    )


@contextlib.asynccontextmanager
async def running(*schedulers: Scheduler) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(s.run()) for s in schedulers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def runs(database_settings: DatabaseSettings, job: str) -> list[tuple[object, ...]]:
    with psycopg.connect(database_settings.libpq_url) as conn:
        return conn.execute(
            "SELECT tick, status, attempts, manual, error, progress FROM job_runs "
            "WHERE job = %s ORDER BY tick",
            (job,),
        ).fetchall()


def counting(calls: list[uuid.UUID]) -> Callable[[JobContext], object]:
    async def job(ctx: JobContext) -> None:
        calls.append(ctx.run_id)
        ctx.progress(1, 1)

    return job


async def test_two_replicas_run_each_tick_once(database_settings: DatabaseSettings) -> None:
    name, calls = unique("every-second"), []
    a, b = replica(database_settings), replica(database_settings)
    for s in (a, b):
        s.add(Job(name=name, every=timedelta(seconds=1), fn=counting(calls)))  # type: ignore[arg-type]
    async with running(a, b):
        await asyncio.sleep(3.5)
    rows = runs(database_settings, name)
    ticks = [r[0] for r in rows]
    assert len(ticks) == len(set(ticks)) >= 3
    assert len(calls) == len(ticks)  # one call per tick, whichever replica made it
    assert {r[1] for r in rows} <= {"succeeded", "running"}


async def test_after_downtime_the_missed_ticks_run_once_not_once_each(
    database_settings: DatabaseSettings,
) -> None:
    name, calls = unique("hourly"), []
    job = Job(name=name, every=timedelta(hours=1), fn=counting(calls))  # type: ignore[arg-type]
    first = replica(database_settings)
    first.add(job)
    async with running(first):
        await asyncio.sleep(0.5)
    assert len(calls) == 1  # the current tick was due at start
    with psycopg.connect(database_settings.libpq_url) as conn:  # as if down for three hours
        conn.execute("UPDATE job_runs SET tick = tick - interval '3 hours' WHERE job = %s", (name,))
    again = replica(database_settings)
    again.add(job)
    async with running(again):
        await asyncio.sleep(0.5)
    assert len(calls) == 2
    restarted = replica(database_settings)
    restarted.add(job)
    async with running(restarted):
        await asyncio.sleep(0.5)
    assert len(calls) == 2  # that tick is done; a restart does not run it again


async def test_a_crashing_run_is_recorded_redacted_and_counted(
    database_settings: DatabaseSettings,
) -> None:
    name = unique("crashes")

    async def crash(ctx: JobContext) -> None:
        ctx.progress(3, 10)
        raise RuntimeError("GET /me?access_token=EAAB-very-secret failed")

    metrics = Metrics(service="scheduler-test")
    scheduler = replica(database_settings, metrics)
    scheduler.add(Job(name=name, every=timedelta(hours=1), fn=crash))
    async with running(scheduler):
        await asyncio.sleep(0.5)
    ((_, status, _, _, error, progress),) = runs(database_settings, name)
    assert status == "failed"
    assert "EAAB-very-secret" not in str(error)
    assert "RuntimeError" in str(error)
    assert progress == {"done": 3, "total": 10}
    labels = {"service": "scheduler-test", "job": name}
    assert (
        metrics.registry.get_sample_value("mooring_job_runs_total", {**labels, "status": "failed"})
        == 1
    )
    assert metrics.registry.get_sample_value("mooring_job_last_run_failed", labels) == 1


async def test_a_run_left_running_by_a_dead_replica_is_taken_over(
    database_settings: DatabaseSettings,
) -> None:
    name, calls = unique("orphan"), []
    job = Job(name=name, every=timedelta(hours=1), fn=counting(calls))  # type: ignore[arg-type]
    scheduler = replica(database_settings)
    scheduler.add(job)
    with psycopg.connect(database_settings.libpq_url) as conn:
        (now,) = conn.execute("SELECT now()").fetchone() or (None,)
        conn.execute(
            "INSERT INTO job_runs (job, tick, owner, status) VALUES (%s, %s, 'dead', 'running')",
            (name, job.tick(now)),  # type: ignore[arg-type]
        )
    async with running(scheduler):
        await asyncio.sleep(0.5)
    ((_, status, attempts, _, _, _),) = runs(database_settings, name)
    assert (status, attempts, len(calls)) == ("succeeded", 2, 1)


async def test_on_demand_runs_report_progress_and_refuse_while_a_run_is_going(
    database_settings: DatabaseSettings,
) -> None:
    name = unique("on-demand")
    release = asyncio.Event()
    seen: list[dict[str, object]] = []

    async def slow(ctx: JobContext) -> None:
        for done in range(1, 4):
            ctx.progress(done, 3, failed=0)
        await release.wait()

    scheduler = replica(database_settings)
    scheduler.add(Job(name=name, every=timedelta(days=1), fn=slow))
    first = asyncio.create_task(scheduler.run_now(name, on_progress=lambda s: seen.append(dict(s))))
    await asyncio.sleep(0.3)
    other = replica(database_settings)
    other.add(Job(name=name, every=timedelta(days=1), fn=slow))
    with pytest.raises(JobBusyError, match="already running"):
        await other.run_now(name)
    release.set()
    run = await first
    assert run.status == "succeeded"
    assert run.progress == {"done": 3, "total": 3, "failed": 0}
    assert seen[-1] == {"done": 3, "total": 3, "failed": 0}
    ((_, status, _, manual, _, _),) = runs(database_settings, name)
    assert (status, manual) == ("succeeded", True)
    with pytest.raises(KeyError, match="no job named"):
        await scheduler.run_now("social:nothing")
