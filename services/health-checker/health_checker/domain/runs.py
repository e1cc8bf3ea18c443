"""A check run and its batches, as the service layer sees them.

A run is planned once: every `connected` or `token_expired` account, per platform, in id order,
cut into batches of contiguous id ranges (`after_id` exclusive, `last_id` inclusive; the last
batch of a platform is open-ended, so an account added meanwhile is not missed). Replicas claim
batches; a batch keeps a cursor (the highest id below which every account is done), so a run
stopped by its window, a quota or a crash carries on from there, never from zero.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = ["Batch", "BatchState", "CheckRun", "RunStatus", "RunSummary"]


class RunStatus(StrEnum):
    RUNNING = "running"  # open: planned, being worked or waiting for the next tick
    COMPLETED = "completed"  # every batch done


class BatchState(StrEnum):
    PENDING = "pending"
    WORKING = "working"
    DONE = "done"


@dataclass(frozen=True)
class CheckRun:
    id: uuid.UUID
    status: RunStatus
    started_at: datetime
    window_ends_at: datetime
    ticks: int = 1
    finished_at: datetime | None = None


@dataclass(frozen=True)
class Batch:
    run_id: uuid.UUID
    seq: int
    platform: str
    after_id: uuid.UUID | None  # exclusive lower bound (None: from the first id)
    last_id: uuid.UUID | None  # inclusive upper bound (None: open-ended)
    planned: int
    cursor: uuid.UUID | None = None  # every account up to here is done

    @property
    def resume_after(self) -> uuid.UUID | None:
        return self.cursor if self.cursor is not None else self.after_id


@dataclass
class RunSummary:
    """What an operator reads about a run: when, how far, what was found."""

    run: CheckRun
    planned: int = 0
    batches: Counter[str] = field(default_factory=Counter)  # batch state -> batches
    counts: Counter[str] = field(default_factory=Counter)  # Checked value -> accounts
    per_platform: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def checked(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> bool:
        return self.batches[BatchState.PENDING] == 0 and self.batches[BatchState.WORKING] == 0
