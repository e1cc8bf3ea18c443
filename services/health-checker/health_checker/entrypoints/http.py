"""Health-checker's internal routes: what operators read about the last runs.

All take the service token (`HEALTH_CHECKER_SERVICE_TOKENS`); answers never carry a token.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import SecretStr

from health_checker.entrypoints.schemas import CheckRunOut, JobRunOut
from health_checker.service_layer.unit_of_work import AbstractHealthUnitOfWork
from mooring.service.auth import service_credential
from mooring.service.problems import PROBLEM_JSON, Problem

__all__ = ["STUCK_JOB", "build_routers"]

STUCK_JOB = "social:recover-stuck-posts"

Responses = dict[int | str, dict[str, Any]]
RecentRuns = Callable[[int], Awaitable[list[dict[str, Any]]]]


def _problem(status_code: int, description: str) -> Responses:
    return {status_code: {"description": description, "content": {PROBLEM_JSON: {}}}}


_401 = _problem(401, "Missing or wrong service token.")
_404 = _problem(404, "No such run (or none yet).")
_422 = _problem(422, "The request is not valid.")


def _no_run(what: str) -> Problem:
    return Problem(404, "run-not-found", "Run not found", f"{what}: no such run")


def build_routers(
    uow: Callable[[], AbstractHealthUnitOfWork],
    recent_runs: RecentRuns,
    service_tokens: Sequence[SecretStr],
) -> list[APIRouter]:
    internal = APIRouter(
        prefix="/internal/v1",
        tags=["internal"],
        dependencies=[Depends(service_credential(service_tokens))],
        responses=_401,
    )

    @internal.get("/check-runs/latest", responses=_404)
    async def latest_check_run() -> CheckRunOut:
        """The newest connection-check run: start, end (null while it runs) and counts."""
        async with uow() as u:
            run = await u.checks.latest_run()
            if run is None:
                raise _no_run("no connection check has run yet")
            return CheckRunOut.of(await u.checks.summary(run))

    @internal.get("/check-runs/{check_run_id}", responses=_404 | _422)
    async def check_run(check_run_id: uuid.UUID) -> CheckRunOut:
        """One connection-check run by the id its events carry (`check_run_id`)."""
        async with uow() as u:
            run = await u.checks.get_run(check_run_id)
            if run is None:
                raise _no_run(f"check run {check_run_id}")
            return CheckRunOut.of(await u.checks.summary(run))

    @internal.get("/stuck-sweeps/latest", responses=_404)
    async def latest_stuck_sweep() -> JobRunOut:
        """The newest run of social:recover-stuck-posts and its counts (retry, failed,
        waiting, superseded, pruned)."""
        for row in await recent_runs(50):
            if row["job"] == STUCK_JOB:
                progress = dict(row["progress"] or {})
                counts = {k: v for k, v in progress.items() if k not in {"done", "total"}}
                return JobRunOut(
                    job=STUCK_JOB,
                    job_run_id=row["run_id"],
                    status=row["status"],
                    manual=row["manual"],
                    started_at=row["started_at"],
                    finished_at=row["finished_at"],
                    error=row["error"],
                    counts=counts,
                )
        raise _no_run("no stuck-post sweep has run yet")

    return [internal]
