"""The health-checker's persistence ports: what the service layer may ask of its tables.

`CheckRepository` / `DeliveryRepository` (PostgreSQL) and the fakes in `health_checker.testing`
implement them. Times that matter (a run's window, a delivery's age) are the store's own clock
(the database's in production), so replicas with skewed clocks agree.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from health_checker.domain.deliveries import Delivery, DeliveryEvent
from health_checker.domain.runs import Batch, CheckRun, RunSummary
from mooring.accounts.model import AccountStatus

__all__ = ["AbstractCheckRepository", "AbstractDeliveryRepository", "AbstractPlatformTurns"]


class AbstractCheckRepository(abc.ABC):
    @abc.abstractmethod
    async def now(self) -> datetime: ...

    @abc.abstractmethod
    async def open_run(self) -> CheckRun | None:
        """The run that is not completed yet, if any."""

    @abc.abstractmethod
    async def start_or_resume(
        self, *, window_s: float, batch_size: int, statuses: Collection[AccountStatus]
    ) -> tuple[CheckRun, bool]:
        """The open run with its window moved to now + `window_s` (a new tick), or a new run
        planned over the accounts in `statuses`; True when it is new."""

    @abc.abstractmethod
    async def get_run(self, run_id: uuid.UUID) -> CheckRun | None: ...

    @abc.abstractmethod
    async def latest_run(self) -> CheckRun | None: ...

    @abc.abstractmethod
    async def summary(self, run: CheckRun) -> RunSummary: ...

    @abc.abstractmethod
    async def open_platforms(self, run_id: uuid.UUID) -> list[str]:
        """Platforms with batches not done yet."""

    @abc.abstractmethod
    async def claim_batch(self, run_id: uuid.UUID, platform: str, owner: str) -> Batch | None:
        """The next batch of `platform` not done: pending, or left working by a claimer that
        lost the platform's turn (only the turn's holder calls this)."""

    @abc.abstractmethod
    async def batch_accounts(
        self, batch: Batch, statuses: Collection[AccountStatus]
    ) -> list[uuid.UUID]:
        """The ids of the batch's accounts still to check (after its cursor), in id order."""

    @abc.abstractmethod
    async def finish_batch(self, batch: Batch, counts: Mapping[str, int]) -> None: ...

    @abc.abstractmethod
    async def release_batch(
        self, batch: Batch, cursor: uuid.UUID | None, counts: Mapping[str, int]
    ) -> None:
        """Stopped early (window, quota, shutdown): back to pending, resuming after `cursor`."""

    @abc.abstractmethod
    async def complete_run(self, run_id: uuid.UUID) -> bool:
        """Mark the run completed if every batch is done; True if it now is."""

    @abc.abstractmethod
    async def spend_quota(self, platform: str, calls: int) -> None:
        """Add `calls` to the platform's tally for today (UTC)."""

    @abc.abstractmethod
    async def quota_spent(self, platforms: Collection[str]) -> dict[str, int]:
        """Requests spent today per platform."""


class AbstractDeliveryRepository(abc.ABC):
    @abc.abstractmethod
    async def now(self) -> datetime: ...

    @abc.abstractmethod
    async def lock(self, events: Sequence[DeliveryEvent]) -> dict[uuid.UUID, Delivery]:
        """The deliveries the events are about, locked until commit; one not seen before is
        created from its first event in `events`."""

    @abc.abstractmethod
    async def save(self, deliveries: Sequence[Delivery]) -> None: ...

    @abc.abstractmethod
    async def stuck(self, stuck_before: datetime, limit: int) -> list[Delivery]:
        """Deliveries publishing since before `stuck_before` whose attempt has no decision."""

    @abc.abstractmethod
    async def of_posts(self, post_ids: Collection[uuid.UUID]) -> list[Delivery]: ...

    @abc.abstractmethod
    async def record_decision(self, delivery: Delivery, decision: str, reason: str) -> bool:
        """Record the decision for the delivery's attempt (`retry`, `failed`, or `superseded`:
        bookkeeping, never announced); False if the attempt already had one."""

    @abc.abstractmethod
    async def prune(self, older_than: datetime) -> int:
        """Forget deliveries finished (or decided) with no event since `older_than`."""


class AbstractPlatformTurns(abc.ABC):
    """Platform turns: at most one process of the replica set works a platform at a time."""

    @abc.abstractmethod
    async def try_take(self, platform: str) -> bool:
        """Take the platform's turn if no process holds it."""

    @abc.abstractmethod
    async def give_back(self, platform: str) -> None: ...

    @abc.abstractmethod
    async def check(self) -> None:
        """Raise `LeaseLostError` if the turns this process holds may have been lost."""

    @abc.abstractmethod
    async def close(self) -> None: ...
