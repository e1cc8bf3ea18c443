"""Scheduled jobs on the `job_runs` table: every tick runs once, whatever the replica count.

A job named `social:check-connections` with `every=1 day` has one tick per day (aligned to the
epoch plus `offset`, by the database's clock so replicas agree). To run a tick a replica must
hold the job's advisory lock (on a connection of its own, for the whole run: at most one run of a
job at a time, scheduled or on demand) and insert the tick's row; a tick whose row exists is not
run again. After downtime only the current tick is due, so missed ticks run once, not once each.
A row left `running` by a replica that died (its lock died with its connection) is taken over
and run again, up to `max_attempts`; jobs resume from their own cursors. A run that raises is
recorded as `failed` with a redacted error and counted in the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from mooring.logs import redact
from mooring.service.metrics import Metrics

__all__ = ["Job", "JobBusyError", "JobContext", "JobRun", "Scheduler"]

logger = logging.getLogger(__name__)

_LOCK_CLASS = 0x6A6F62  # "job": the first key of every job's advisory lock
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class JobBusyError(Exception):
    """Another run of the job holds its lock (a replica's scheduled run, or an on-demand one)."""


@dataclass
class JobContext:
    """What a running job sees: its run id and tick, and a way to report progress."""

    job: str
    run_id: uuid.UUID
    tick: datetime
    manual: bool
    on_progress: Callable[[Mapping[str, Any]], None] = field(default=lambda _: None, repr=False)
    state: dict[str, Any] = field(default_factory=dict)

    def progress(self, done: int, total: int | None = None, **counts: int) -> None:
        """How far the run is (`done` of `total` items) and any counters worth showing."""
        self.state = {"done": done, "total": total, **counts}
        self.on_progress(self.state)


JobFn = Callable[[JobContext], Awaitable[None]]


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    fn: JobFn
    offset: timedelta = timedelta(0)

    def tick(self, now: datetime) -> datetime:
        every = self.every.total_seconds()
        since = (now - _EPOCH - self.offset).total_seconds()
        return _EPOCH + self.offset + timedelta(seconds=every * (since // every))


@dataclass(frozen=True)
class JobRun:
    job: str
    run_id: uuid.UUID
    tick: datetime
    status: str
    progress: Mapping[str, Any]
    error: str | None = None


class Scheduler:
    def __init__(
        self,
        *,
        service: str,
        libpq_url: str,
        metrics: Metrics,
        poll_s: float = 5.0,
        progress_every_s: float = 2.0,
        max_attempts: int = 3,
    ) -> None:
        self._service = service
        self._url = libpq_url
        self._metrics = metrics
        self._poll_s = poll_s
        self._progress_every_s = progress_every_s
        self._max_attempts = max_attempts
        self._owner = f"{service}@{socket.gethostname()}:{id(self):x}"
        self.jobs: dict[str, Job] = {}
        self._running: dict[str, asyncio.Task[JobRun]] = {}
        self._settled: dict[str, datetime] = {}  # job -> the tick known to be done

    def add(self, job: Job) -> None:
        if job.name in self.jobs:
            raise ValueError(f"job {job.name!r} is scheduled twice")
        if job.every <= timedelta(0):
            raise ValueError(f"job {job.name!r} needs a positive interval")
        self.jobs[job.name] = job

    # -- the loop in every replica ----------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                try:
                    now = await self._db_now()
                    for job in self.jobs.values():
                        if job.name not in self._running:
                            await self._maybe_start(job, job.tick(now))
                except (psycopg.Error, OSError) as exc:
                    # The database is away: nothing can be claimed; try again next poll.
                    logger.warning("scheduler cannot reach the database", extra={"error": str(exc)})
                await asyncio.sleep(self._poll_s)
        finally:
            for task in self._running.values():
                task.cancel()
            if self._running:
                await asyncio.wait(self._running.values(), timeout=5)

    async def _maybe_start(self, job: Job, tick: datetime) -> None:
        if self._settled.get(job.name) == tick:
            return
        conn = await self._lock(job.name)
        if conn is None:
            return  # another replica (or an on-demand run) is running this job
        try:
            run_id = await self._claim(conn, job.name, tick, manual=False)
        except BaseException:
            await conn.close()
            raise
        if run_id is None:
            self._settled[job.name] = tick
            await conn.close()
            return
        self._running[job.name] = asyncio.create_task(
            self._execute(conn, job, run_id, tick, manual=False), name=f"job:{job.name}"
        )

    # -- on demand --------------------------------------------------------------------------------

    async def run_now(
        self, name: str, *, on_progress: Callable[[Mapping[str, Any]], None] = lambda _: None
    ) -> JobRun:
        """Run `name` once, now, in this process; `JobBusyError` if a run is in progress."""
        job = self.jobs.get(name)
        if job is None:
            raise KeyError(f"no job named {name!r}; this service has {sorted(self.jobs)}")
        conn = await self._lock(name)
        if conn is None:
            raise JobBusyError(await self._describe_running(name))
        try:
            tick = await self._db_now()
            run_id = await self._claim(conn, name, tick, manual=True)
        except BaseException:
            await conn.close()
            raise
        if run_id is None:  # the same microsecond twice; cannot happen twice in a row
            await conn.close()
            raise JobBusyError(f"{name} already ran at {tick.isoformat()}")
        return await self._execute(conn, job, run_id, tick, manual=True, on_progress=on_progress)

    # -- internals --------------------------------------------------------------------------------

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self._url, autocommit=True)

    async def _db_now(self) -> datetime:
        conn = await self._connect()
        try:
            row = await (await conn.execute("SELECT now()")).fetchone()
        finally:
            await conn.close()
        assert row is not None  # noqa: S101 - SELECT now() returns a row
        now: datetime = row[0]
        return now

    async def _lock(self, name: str) -> psycopg.AsyncConnection[Any] | None:
        """A connection holding the job's advisory lock (held until it closes), or None."""
        conn = await self._connect()
        try:
            row = await (
                await conn.execute(
                    "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (_LOCK_CLASS, name)
                )
            ).fetchone()
        except BaseException:
            await conn.close()
            raise
        if row is None or not row[0]:
            await conn.close()
            return None
        return conn

    async def _claim(
        self, conn: psycopg.AsyncConnection[Any], name: str, tick: datetime, *, manual: bool
    ) -> uuid.UUID | None:
        """Insert the tick's row, or take over one a dead runner left `running`; the run id."""
        run_id = uuid.uuid4()
        row = await (
            await conn.execute(
                "INSERT INTO job_runs (job, tick, owner, run_id, status, manual) "
                "VALUES (%(job)s, %(tick)s, %(owner)s, %(run_id)s, 'running', %(manual)s) "
                "ON CONFLICT (job, tick) DO UPDATE SET owner = EXCLUDED.owner, "
                "run_id = EXCLUDED.run_id, started_at = now(), finished_at = NULL, error = NULL, "
                "attempts = job_runs.attempts + 1 "
                # Only safe because we hold the job's lock: a live runner would hold it.
                "WHERE job_runs.status = 'running' AND job_runs.attempts < %(max)s "
                "RETURNING run_id, attempts",
                {
                    "job": name,
                    "tick": tick,
                    "owner": self._owner,
                    "run_id": run_id,
                    "manual": manual,
                    "max": self._max_attempts,
                },
            )
        ).fetchone()
        if row is None:
            return None
        if row[1] > 1:
            logger.warning(
                "job run taken over from a runner that died",
                extra={"job": name, "tick": tick.isoformat(), "attempt": row[1]},
            )
        claimed: uuid.UUID = row[0]
        return claimed

    async def _execute(
        self,
        conn: psycopg.AsyncConnection[Any],
        job: Job,
        run_id: uuid.UUID,
        tick: datetime,
        *,
        manual: bool,
        on_progress: Callable[[Mapping[str, Any]], None] = lambda _: None,
    ) -> JobRun:
        ctx = JobContext(job=job.name, run_id=run_id, tick=tick, manual=manual)
        ctx.on_progress = on_progress
        labels = (self._service, job.name)
        self._metrics.job_running.labels(*labels).set(1)
        started = time.monotonic()
        saver = asyncio.create_task(self._save_progress(conn, ctx), name=f"job:{job.name}:progress")
        status, error = "succeeded", None
        logger.info(
            "job run started", extra={"job": job.name, "run_id": str(run_id), "manual": manual}
        )
        try:
            await job.fn(ctx)
        except asyncio.CancelledError:
            status, error = "failed", "cancelled: the process stopped during the run"
            raise
        except Exception as exc:
            status, error = "failed", redact(f"{type(exc).__name__}: {exc}")[:1000]
            logger.exception("job run failed", extra={"job": job.name, "run_id": str(run_id)})
        finally:
            saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await saver
            await self._finish(conn, job.name, tick, status, error, ctx.state)
            self._metrics.job_running.labels(*labels).set(0)
            self._metrics.job_runs.labels(*labels, status).inc()
            self._metrics.job_last_failed.labels(*labels).set(1 if status == "failed" else 0)
            if status == "succeeded":
                self._metrics.job_last_success.labels(*labels).set(time.time())
            self._running.pop(job.name, None)
            if not manual:
                self._settled[job.name] = tick
            logger.info(
                "job run finished",
                extra={
                    "job": job.name,
                    "run_id": str(run_id),
                    "status": status,
                    "seconds": round(time.monotonic() - started, 3),
                    "progress": ctx.state,
                },
            )
        return JobRun(job.name, run_id, tick, status, ctx.state, error)

    async def _save_progress(self, conn: psycopg.AsyncConnection[Any], ctx: JobContext) -> None:
        while True:
            await asyncio.sleep(self._progress_every_s)
            with contextlib.suppress(psycopg.Error):
                await conn.execute(
                    "UPDATE job_runs SET progress = %s WHERE job = %s AND tick = %s",
                    (json.dumps(ctx.state), ctx.job, ctx.tick),
                )

    async def _finish(
        self,
        conn: psycopg.AsyncConnection[Any],
        name: str,
        tick: datetime,
        status: str,
        error: str | None,
        progress: Mapping[str, Any],
    ) -> None:
        try:
            await conn.execute(
                "UPDATE job_runs SET status = %s, error = %s, progress = %s, "
                "finished_at = now() WHERE job = %s AND tick = %s",
                (status, error, json.dumps(progress), name, tick),
            )
        except psycopg.Error:
            # The row stays `running`; the next replica to hold the lock takes it over.
            logger.warning("could not record the end of a job run", extra={"job": name})
        finally:
            await conn.close()  # releases the job's lock

    async def _describe_running(self, name: str) -> str:
        conn = await self._connect()
        try:
            row = await (
                await conn.execute(
                    "SELECT owner, started_at, progress FROM job_runs WHERE job = %s "
                    "AND status = 'running' ORDER BY started_at DESC LIMIT 1",
                    (name,),
                )
            ).fetchone()
        finally:
            await conn.close()
        if row is None:
            return f"{name} is running elsewhere"
        return f"{name} is already running ({row[0]}, since {row[1].isoformat()}, {row[2]})"

    async def recent_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest runs of this service's jobs, newest first (for operators)."""
        conn = await self._connect()
        try:
            cursor = await conn.execute(
                "SELECT job, tick, run_id, status, manual, attempts, owner, started_at, "
                "finished_at, error, progress FROM job_runs WHERE job = ANY(%s) "
                "ORDER BY started_at DESC LIMIT %s",
                (list(self.jobs), limit),
            )
            names = [d.name for d in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]
        finally:
            await conn.close()
