"""In-memory stores, turns and unit of work: the service layer tested without PostgreSQL.

`FakeCheckRepository` and `FakeDeliveryRepository` implement the same ports as the SQL ones,
with a clock the test moves (`now`) standing in for the database's; the check repository plans
runs from the fake accounts exactly as the SQL plans them (per platform, id order, contiguous
ranges). `FakeHealthUnitOfWork` adds both to the kernel's `FakeUnitOfWork`: a transaction's
writes are undone on rollback. `FakePlatformTurns` is the in-process stand-in for the advisory
locks (share one between two workers to play two replicas).
"""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from health_checker.adapters.port import (
    AbstractCheckRepository,
    AbstractDeliveryRepository,
    AbstractPlatformTurns,
)
from health_checker.domain.deliveries import Delivery, DeliveryEvent, DeliveryState
from health_checker.domain.runs import Batch, BatchState, CheckRun, RunStatus, RunSummary
from health_checker.service_layer.unit_of_work import AbstractHealthUnitOfWork
from mooring.accounts import Account
from mooring.accounts.model import AccountStatus
from mooring.uow import FakeAccountRepository, FakeUnitOfWork

__all__ = [
    "FakeCheckRepository",
    "FakeDeliveryRepository",
    "FakeHealthUnitOfWork",
    "FakePlatformTurns",
]


@dataclass
class _BatchRow:
    batch: Batch
    state: BatchState = BatchState.PENDING
    claimed_by: str | None = None
    counts: Counter[str] | None = None


class FakeCheckRepository(AbstractCheckRepository):
    def __init__(self, accounts: FakeAccountRepository, clock: _Clock) -> None:
        self._accounts = accounts
        self._clock = clock
        self.runs: dict[uuid.UUID, CheckRun] = {}
        self.batches: dict[tuple[uuid.UUID, int], _BatchRow] = {}
        self.quota: dict[tuple[str, date], int] = {}

    def state(self) -> Any:
        return copy.deepcopy((self.runs, self.batches, self.quota))

    def restore(self, state: Any) -> None:
        self.runs, self.batches, self.quota = state

    async def now(self) -> datetime:
        return self._clock.now

    async def open_run(self) -> CheckRun | None:
        return next((r for r in self.runs.values() if r.status is RunStatus.RUNNING), None)

    async def start_or_resume(
        self, *, window_s: float, batch_size: int, statuses: Collection[AccountStatus]
    ) -> tuple[CheckRun, bool]:
        window_end = self._clock.now + timedelta(seconds=window_s)
        run = await self.open_run()
        if run is not None:
            run = self.runs[run.id] = replace(run, window_ends_at=window_end, ticks=run.ticks + 1)
            return run, False
        run = CheckRun(
            id=uuid.uuid4(),
            status=RunStatus.RUNNING,
            started_at=self._clock.now,
            window_ends_at=window_end,
        )
        self.runs[run.id] = run
        by_platform: dict[str, list[uuid.UUID]] = {}
        for account in self._accounts.rows.values():
            if account.status in statuses:
                by_platform.setdefault(account.platform, []).append(account.id)
        seq = 0
        for platform in sorted(by_platform):
            ids = sorted(by_platform[platform])
            chunks = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
            after: uuid.UUID | None = None
            for index, chunk in enumerate(chunks):
                seq += 1
                last = None if index == len(chunks) - 1 else chunk[-1]
                self.batches[run.id, seq] = _BatchRow(
                    Batch(run.id, seq, platform, after, last, planned=len(chunk))
                )
                after = chunk[-1]
        return run, True

    async def get_run(self, run_id: uuid.UUID) -> CheckRun | None:
        return self.runs.get(run_id)

    async def latest_run(self) -> CheckRun | None:
        return max(self.runs.values(), key=lambda r: r.started_at, default=None)

    def _rows(self, run_id: uuid.UUID) -> list[_BatchRow]:
        return [row for (rid, _), row in sorted(self.batches.items()) if rid == run_id]

    async def summary(self, run: CheckRun) -> RunSummary:
        summary = RunSummary(run=self.runs.get(run.id, run))
        for row in self._rows(run.id):
            summary.batches[row.state.value] += 1
            summary.planned += row.batch.planned
            per = summary.per_platform.setdefault(row.batch.platform, Counter())
            per.update(row.counts or Counter())
            summary.counts.update(row.counts or Counter())
        return summary

    async def open_platforms(self, run_id: uuid.UUID) -> list[str]:
        return sorted(
            {r.batch.platform for r in self._rows(run_id) if r.state is not BatchState.DONE}
        )

    async def claim_batch(self, run_id: uuid.UUID, platform: str, owner: str) -> Batch | None:
        for row in self._rows(run_id):
            if row.batch.platform == platform and row.state is not BatchState.DONE:
                row.state, row.claimed_by = BatchState.WORKING, owner
                return row.batch
        return None

    async def batch_accounts(
        self, batch: Batch, statuses: Collection[AccountStatus]
    ) -> list[uuid.UUID]:
        return sorted(
            a.id
            for a in self._accounts.rows.values()
            if a.platform == batch.platform
            and a.status in statuses
            and (batch.resume_after is None or a.id > batch.resume_after)
            and (batch.last_id is None or a.id <= batch.last_id)
        )

    def _add_counts(self, batch: Batch, counts: Mapping[str, int]) -> _BatchRow:
        row = self.batches[batch.run_id, batch.seq]
        row.counts = (row.counts or Counter()) + Counter(counts)
        return row

    async def finish_batch(self, batch: Batch, counts: Mapping[str, int]) -> None:
        self._add_counts(batch, counts).state = BatchState.DONE

    async def release_batch(
        self, batch: Batch, cursor: uuid.UUID | None, counts: Mapping[str, int]
    ) -> None:
        row = self._add_counts(batch, counts)
        row.state, row.claimed_by = BatchState.PENDING, None
        if cursor is not None:
            row.batch = replace(row.batch, cursor=cursor)

    async def complete_run(self, run_id: uuid.UUID) -> bool:
        run = self.runs[run_id]
        if run.status is RunStatus.COMPLETED:
            return True
        if any(r.state is not BatchState.DONE for r in self._rows(run_id)):
            return False
        self.runs[run_id] = replace(run, status=RunStatus.COMPLETED, finished_at=self._clock.now)
        return True

    async def spend_quota(self, platform: str, calls: int) -> None:
        key = (platform, self._clock.now.astimezone(UTC).date())
        self.quota[key] = self.quota.get(key, 0) + calls

    async def quota_spent(self, platforms: Collection[str]) -> dict[str, int]:
        today = self._clock.now.astimezone(UTC).date()
        return {p: self.quota[p, today] for p in platforms if (p, today) in self.quota}


class FakeDeliveryRepository(AbstractDeliveryRepository):
    def __init__(self, clock: _Clock) -> None:
        self._clock = clock
        self.rows: dict[uuid.UUID, Delivery] = {}
        self.decisions: dict[tuple[uuid.UUID, int], tuple[str, str, datetime]] = {}

    def state(self) -> Any:
        return copy.deepcopy((self.rows, self.decisions))

    def restore(self, state: Any) -> None:
        self.rows, self.decisions = state

    async def now(self) -> datetime:
        return self._clock.now

    async def lock(self, events: Sequence[DeliveryEvent]) -> dict[uuid.UUID, Delivery]:
        for event in events:
            self.rows.setdefault(event.delivery_id, Delivery.first(event))
        return {e.delivery_id: self.rows[e.delivery_id] for e in events}

    async def save(self, deliveries: Sequence[Delivery]) -> None:
        for delivery in deliveries:
            self.rows[delivery.delivery_id] = delivery

    def _decided(self, d: Delivery) -> bool:
        return (d.delivery_id, d.attempt) in self.decisions

    async def stuck(self, stuck_before: datetime, limit: int) -> list[Delivery]:
        found = [
            d
            for d in self.rows.values()
            if d.state is DeliveryState.PUBLISHING
            and d.publishing_since is not None
            and d.publishing_since <= stuck_before
            and not self._decided(d)
        ]
        return sorted(found, key=lambda d: d.publishing_since or stuck_before)[:limit]

    async def of_posts(self, post_ids: Collection[uuid.UUID]) -> list[Delivery]:
        return [d for d in self.rows.values() if d.post_id in post_ids]

    async def record_decision(self, delivery: Delivery, decision: str, reason: str) -> bool:
        key = (delivery.delivery_id, delivery.attempt)
        if key in self.decisions:
            return False
        self.decisions[key] = (decision, reason, self._clock.now)
        return True

    async def prune(self, older_than: datetime) -> int:
        gone = [
            d.delivery_id
            for d in self.rows.values()
            if d.last_event_at < older_than
            and (d.state is not DeliveryState.PUBLISHING or self._decided(d))
        ]
        for delivery_id in gone:
            del self.rows[delivery_id]
        self.decisions = {
            key: value
            for key, value in self.decisions.items()
            if key[0] in self.rows or value[2] >= older_than
        }
        return len(gone)


@dataclass
class _Clock:
    now: datetime


class FakeHealthUnitOfWork(FakeUnitOfWork, AbstractHealthUnitOfWork):
    """One object for a whole test; `now` is the stores' clock (move it with `advance`)."""

    checks: FakeCheckRepository
    deliveries: FakeDeliveryRepository

    def __init__(self, accounts: Sequence[Account] = (), *, now: datetime | None = None) -> None:
        super().__init__(accounts, source="health-checker-test")
        self.clock = _Clock(now or datetime.now(UTC))
        self.checks = FakeCheckRepository(self.accounts, self.clock)
        self.deliveries = FakeDeliveryRepository(self.clock)
        self._saved: Any = None

    def advance(self, delta: timedelta) -> None:
        self.clock.now += delta

    def __call__(self) -> FakeHealthUnitOfWork:
        """The factory the service layer takes: every unit of work is this one."""
        return self

    async def _begin(self) -> None:
        await super()._begin()
        self._saved = (self.checks.state(), self.deliveries.state())

    async def _rollback(self) -> None:
        await super()._rollback()
        if self._saved is not None:
            self.checks.restore(self._saved[0])
            self.deliveries.restore(self._saved[1])
            self._saved = None

    async def _commit(self) -> None:
        await super()._commit()
        self._saved = (self.checks.state(), self.deliveries.state())


class FakePlatformTurns(AbstractPlatformTurns):
    """Turns in memory: one holder per platform among every worker sharing this object."""

    def __init__(self) -> None:
        self.holders: dict[str, int] = {}
        self.taken: list[str] = []

    def for_worker(self) -> AbstractPlatformTurns:
        return _WorkerTurns(self, id(object()))

    async def try_take(self, platform: str) -> bool:
        return await _WorkerTurns(self, 0).try_take(platform)

    async def give_back(self, platform: str) -> None:
        await _WorkerTurns(self, 0).give_back(platform)

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        self.holders.clear()


class _WorkerTurns(AbstractPlatformTurns):
    def __init__(self, shared: FakePlatformTurns, worker: int) -> None:
        self._shared = shared
        self._worker = worker

    async def try_take(self, platform: str) -> bool:
        if platform in self._shared.holders:
            return False
        self._shared.holders[platform] = self._worker
        self._shared.taken.append(platform)
        return True

    async def give_back(self, platform: str) -> None:
        if self._shared.holders.get(platform) == self._worker:
            del self._shared.holders[platform]

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        for platform in [p for p, w in self._shared.holders.items() if w == self._worker]:
            del self._shared.holders[platform]
