"""HTTP response bodies (the OpenAPI contract of health-checker's internal routes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from health_checker.domain.runs import RunSummary

__all__ = ["CheckRunOut", "JobRunOut"]


class CheckRunOut(BaseModel):
    check_run_id: uuid.UUID
    status: str = Field(
        description="running (being worked, or waiting for the next tick) or completed."
    )
    started_at: datetime
    finished_at: datetime | None
    window_ends_at: datetime = Field(description="When the current tick stops working it.")
    ticks: int = Field(description="Ticks that worked this run (more than 1: it carried on).")
    planned: int = Field(description="Accounts planned when the run started.")
    checked: int = Field(description="Accounts checked so far.")
    counts: dict[str, int] = Field(
        description="Accounts by outcome: ok, repaired, recovered, expired, disconnected, "
        "transient, policy, changed, gone, already, error."
    )
    batches: dict[str, int] = Field(description="Batches by state: pending, working, done.")
    platforms: dict[str, dict[str, int]] = Field(description="`counts` per platform.")

    @classmethod
    def of(cls, summary: RunSummary) -> CheckRunOut:
        run = summary.run
        return cls(
            check_run_id=run.id,
            status=run.status.value,
            started_at=run.started_at,
            finished_at=run.finished_at,
            window_ends_at=run.window_ends_at,
            ticks=run.ticks,
            planned=summary.planned,
            checked=summary.checked,
            counts=dict(summary.counts),
            batches={state: summary.batches[state] for state in ("pending", "working", "done")},
            platforms={p: dict(c) for p, c in sorted(summary.per_platform.items())},
        )


class JobRunOut(BaseModel):
    job: str
    job_run_id: uuid.UUID | None
    status: str = Field(description="running, succeeded or failed.")
    manual: bool = Field(description="Run on demand rather than by the schedule.")
    started_at: datetime
    finished_at: datetime | None
    error: str | None = Field(description="Why it failed (redacted), when it did.")
    counts: dict[str, Any] = Field(description="The run's last progress report.")
