"""Connect starts per workspace: a fixed window, counted by the store under a row lock.

The store counts (`count` in the window that began at `window_started_at`); this says whether
the start may go on and, if not, when to come back (`Retry-After`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from connector.domain.errors import RateLimitedError

__all__ = ["StartWindow"]


class Counted(Protocol):
    @property
    def count(self) -> int: ...

    @property
    def window_started_at(self) -> datetime: ...

    @property
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class StartWindow:
    limit: int
    window_s: int

    def retry_after(self, count: int, window_started_at: datetime, now: datetime) -> int | None:
        """None when the `count`-th start in the window is allowed; else the seconds until the
        window ends (at least 1)."""
        if count <= self.limit:
            return None
        left = window_started_at + timedelta(seconds=self.window_s) - now
        return max(1, math.ceil(left.total_seconds()))

    def refusal(self, counted: Counted) -> RateLimitedError:
        """The 429 for a start counted past the limit."""
        wait = self.retry_after(counted.count, counted.window_started_at, counted.now)
        return RateLimitedError(wait or 1, self.limit, self.window_s)

    def check(self, counted: Counted) -> None:
        """`RateLimitedError` when `counted` is past the limit."""
        if self.retry_after(counted.count, counted.window_started_at, counted.now) is not None:
            raise self.refusal(counted)
