"""`social:check-connections`: one tick of the daily connection check.

The scheduler runs a tick once across every replica (or on demand from the command line). The
tick resumes the open check run if there is one (a run that could not finish in its window
carries on where it stopped) or plans a new one, works it alongside every replica's worker, and
follows it until every batch is done (the run completes), or until nothing more can happen in
this tick: the window closed, or what is left waits for a platform's daily quota. Progress is
reported as accounts checked of accounts planned, with the counts by outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from health_checker.domain.checks import CHECKED_STATUSES
from health_checker.domain.runs import CheckRun, RunSummary
from health_checker.service_layer.check_worker import CheckWorker
from health_checker.service_layer.unit_of_work import AbstractHealthUnitOfWork
from mooring.service.scheduler import JobContext

__all__ = ["CheckConnections"]

logger = logging.getLogger(__name__)

_FOLLOW_S = 1.0


@dataclass(kw_only=True)
class CheckConnections:
    uow: Callable[[], AbstractHealthUnitOfWork]
    worker: CheckWorker
    window_s: float
    batch_size: int

    async def __call__(self, ctx: JobContext) -> None:
        async with self.uow() as uow:
            run, created = await uow.checks.start_or_resume(
                window_s=self.window_s, batch_size=self.batch_size, statuses=CHECKED_STATUSES
            )
            await uow.commit()
        logger.info(
            "check run planned" if created else "check run resumed",
            extra={"check_run_id": str(run.id), "tick": run.ticks, "job_run_id": str(ctx.run_id)},
        )
        summary = await self.follow(run, ctx)
        extra = {"check_run_id": str(run.id), "checked": summary.checked, **summary.counts}
        if summary.finished:
            logger.info("check run completed", extra=extra)
        else:
            logger.warning("check run stopped for this tick; the next tick resumes it", extra=extra)

    async def follow(self, run: CheckRun, ctx: JobContext | None = None) -> RunSummary:
        """Work the run and report progress until it completes or this tick can do no more."""
        reporter = asyncio.create_task(self._report(run, ctx))
        try:
            while True:
                await self.worker.work(run)
                async with self.uow() as uow:
                    if await uow.checks.complete_run(run.id):
                        await uow.commit()
                        break
                    await uow.commit()
                    current = await uow.checks.get_run(run.id) or run
                    summary = await uow.checks.summary(current)
                    now = await uow.checks.now()
                    blocked = await self._quota_blocked(uow, summary)
                if now >= current.window_ends_at or (blocked and summary.batches["working"] == 0):
                    break
                await asyncio.sleep(_FOLLOW_S)
        finally:
            reporter.cancel()
        async with self.uow() as uow:
            summary = await uow.checks.summary(await uow.checks.get_run(run.id) or run)
        if ctx is not None:
            ctx.progress(summary.checked, summary.planned, **summary.counts)
        return summary

    async def _quota_blocked(self, uow: AbstractHealthUnitOfWork, summary: RunSummary) -> bool:
        """Every platform with work left has spent its daily quota."""
        platforms = await uow.checks.open_platforms(summary.run.id)
        if not platforms:
            return False
        spent = await uow.checks.quota_spent(platforms)
        return all(self.worker.out_of_quota(p, spent) for p in platforms)

    async def _report(self, run: CheckRun, ctx: JobContext | None) -> None:
        if ctx is None:
            return
        while True:
            started = time.monotonic()
            async with self.uow() as uow:
                summary = await uow.checks.summary(run)
            ctx.progress(summary.checked, summary.planned, **summary.counts)
            await asyncio.sleep(max(0.0, _FOLLOW_S - (time.monotonic() - started)))
