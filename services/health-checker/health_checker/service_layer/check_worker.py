"""Working a check run's batches, in every replica.

Each replica runs `CheckWorker.run` in the background: while a run is open and inside its
window, it takes platform turns (`PlatformTurns`: one process per platform at a time, across
every replica) and, holding a turn, claims that platform's batches one after another
(`FOR UPDATE SKIP LOCKED`), checks their accounts with the platform's concurrency, and records
each batch's counts. After `turn_s` it gives the platform back and rests it for a moment, so
another replica can take it; different platforms run on different replicas at the same time.
Since a platform is worked by one process at a time, the per-process gates keep its rate and
concurrency for the whole replica set.

A batch stopped early (the window closed, the day's quota is spent, the process stops) goes
back to pending with its cursor: the next claimer, at this tick or the next, resumes there.
The scheduled job (`CheckConnections`) plans the run, works it like any replica and follows it
to the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from health_checker.adapters.gate import PlatformGates
from health_checker.adapters.leases import LeaseLostError
from health_checker.adapters.port import AbstractPlatformTurns
from health_checker.config import PlatformLimit
from health_checker.domain.checks import CHECKED_STATUSES, Checked
from health_checker.domain.runs import Batch, CheckRun
from health_checker.service_layer.check_account import AccountChecker
from health_checker.service_layer.unit_of_work import AbstractHealthUnitOfWork
from mooring.accounts.model import Account
from mooring.vault import DecryptionError

__all__ = ["CheckWorker"]

logger = logging.getLogger(__name__)

_ACTIVE_POLL_S = 0.5  # how often a working replica looks for platforms to take
_REST_S = 1.0  # a platform given back after a turn is not taken again by this process sooner


@dataclass
class _Deadline:
    at: float  # time.monotonic()

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at


@dataclass
class _Turn:
    """Quota left to this turn of one platform (None: no daily cap)."""

    allowance: int | None
    sent: int = 0


@dataclass(kw_only=True)
class CheckWorker:
    uow: Callable[[], AbstractHealthUnitOfWork]
    checker: AccountChecker
    gates: Callable[[], PlatformGates]
    turns: AbstractPlatformTurns
    limits: Mapping[str, PlatformLimit]
    parallel_platforms: int
    turn_s: float
    poll_s: float
    calls_per_check: int  # the most requests one check may send (verify, refresh, verify)
    on_checked: Callable[[str, Checked], None] = lambda _platform, _outcome: None
    owner: str = field(default_factory=lambda: f"worker-{uuid.uuid4().hex[:8]}")
    _busy: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    # platform -> when this process may take it again (kept across `work` calls: the job's and
    # the background loop's alike, or one of them would take back at once what the other gave)
    _resting: dict[str, float] = field(default_factory=dict, init=False)

    # -- the background loop in every replica -----------------------------------------------

    async def run(self) -> None:
        while True:
            run = None
            try:
                run = await self._open_run()
                if run is not None:
                    await self.work(run)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("check worker round failed; the next round tries again")
            # While a run is open, look often: a platform another replica gives back after its
            # turn rests only a moment before that replica may take it again.
            await asyncio.sleep(_ACTIVE_POLL_S if run is not None else self.poll_s)

    async def _open_run(self) -> CheckRun | None:
        async with self.uow() as uow:
            run = await uow.checks.open_run()
            if run is None or run.window_ends_at <= await uow.checks.now():
                return None
            return run

    # -- working one run --------------------------------------------------------------------

    async def work(self, run: CheckRun) -> None:
        """Work `run` until nothing is left that this process may take now (or its window
        closes); returns with every platform turn given back. Cancelled (the process stops),
        it cancels its platform turns; their batches go back with their cursors."""
        async with self._busy:
            async with self.uow() as uow:
                left = (run.window_ends_at - await uow.checks.now()).total_seconds()
            deadline = _Deadline(time.monotonic() + left)
            tasks: dict[str, asyncio.Task[None]] = {}
            resting = self._resting
            try:
                while True:
                    # Past the window no turn is taken; the running ones stop by themselves at
                    # their next account (an account's check is never cut off half-way).
                    if not deadline.passed:
                        await self._take_turns(run, deadline, tasks, resting)
                    if not tasks:
                        return
                    done, _ = await asyncio.wait(
                        tasks.values(), timeout=_ACTIVE_POLL_S, return_when=asyncio.FIRST_COMPLETED
                    )
                    for platform, task in list(tasks.items()):
                        if task in done:
                            del tasks[platform]
                            resting[platform] = time.monotonic() + _REST_S
                            if not task.cancelled() and task.exception() is not None:
                                logger.error(
                                    "platform turn failed; its batch resumes later",
                                    exc_info=task.exception(),
                                    extra={"platform": platform, "check_run_id": str(run.id)},
                                )
            finally:
                for task in tasks.values():
                    task.cancel()
                if tasks:
                    await asyncio.wait(tasks.values())

    async def _take_turns(
        self,
        run: CheckRun,
        deadline: _Deadline,
        tasks: dict[str, asyncio.Task[None]],
        resting: dict[str, float],
    ) -> None:
        if len(tasks) >= self.parallel_platforms:
            return
        async with self.uow() as uow:
            platforms = await uow.checks.open_platforms(run.id)
            spent = await uow.checks.quota_spent(platforms)
        now = time.monotonic()
        candidates = [
            p
            for p in platforms
            if p not in tasks and resting.get(p, 0.0) <= now and not self.out_of_quota(p, spent)
        ]
        random.shuffle(candidates)  # replicas starting together spread over the platforms
        for platform in candidates:
            if len(tasks) >= self.parallel_platforms:
                return
            if await self.turns.try_take(platform):
                turn = _Turn(self.quota_left(platform, spent))
                tasks[platform] = asyncio.create_task(
                    self._platform_turn(run, platform, turn, deadline),
                    name=f"check:{platform}",
                )

    def quota_left(self, platform: str, spent: Mapping[str, int]) -> int | None:
        """Requests the platform's daily quota still allows today; None: no daily cap."""
        quota = self.limits.get(platform, PlatformLimit()).daily_quota
        return None if quota is None else max(0, quota - spent.get(platform, 0))

    def out_of_quota(self, platform: str, spent: Mapping[str, int]) -> bool:
        """Too little of the day's quota is left for one more check."""
        left = self.quota_left(platform, spent)
        return left is not None and left < self.calls_per_check

    async def _platform_turn(
        self, run: CheckRun, platform: str, turn: _Turn, deadline: _Deadline
    ) -> None:
        started = time.monotonic()
        try:
            while not deadline.passed and time.monotonic() - started < self.turn_s:
                if turn.allowance is not None and turn.allowance < self.calls_per_check:
                    break
                await self.turns.check()
                async with self.uow() as uow:
                    batch = await uow.checks.claim_batch(run.id, platform, self.owner)
                    await uow.commit()
                if batch is None:
                    break
                await self._work_batch(run, batch, turn, deadline)
        except LeaseLostError:
            logger.warning(
                "platform turns lost with their connection", extra={"platform": platform}
            )
        finally:
            await self.turns.give_back(platform)

    async def _work_batch(
        self, run: CheckRun, batch: Batch, turn: _Turn, deadline: _Deadline
    ) -> None:
        async with self.uow() as uow:
            ids = await uow.checks.batch_accounts(batch, CHECKED_STATUSES)
            found, unreadable = await _readable_accounts(uow, ids)
        progress = _Progress(ids)
        counts: Counter[str] = Counter()
        limit = self.limits.get(batch.platform, PlatformLimit())
        lanes = [
            asyncio.create_task(
                self._lane(run, batch, (found, unreadable), progress, counts, turn, deadline)
            )
            for _ in range(min(limit.concurrency, max(1, len(ids))))
        ]
        sent_before = turn.sent
        try:
            await asyncio.gather(*lanes)
        except BaseException:
            for lane in lanes:
                lane.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._record(batch, progress, counts, turn.sent - sent_before)
            raise
        await self._record(batch, progress, counts, turn.sent - sent_before)

    async def _record(
        self, batch: Batch, progress: _Progress, counts: Counter[str], sent: int
    ) -> None:
        async with self.uow() as uow:
            if progress.complete:
                await uow.checks.finish_batch(batch, counts)
            else:
                await uow.checks.release_batch(batch, progress.cursor, counts)
            await uow.checks.spend_quota(batch.platform, sent)
            await uow.commit()

    async def _lane(
        self,
        run: CheckRun,
        batch: Batch,
        accounts: tuple[Mapping[uuid.UUID, Account], frozenset[uuid.UUID]],
        progress: _Progress,
        counts: Counter[str],
        turn: _Turn,
        deadline: _Deadline,
    ) -> None:
        gates = self.gates()
        found, unreadable = accounts
        while not deadline.passed:
            budget: int | None = None
            if turn.allowance is not None:
                if turn.allowance < self.calls_per_check:
                    return
                budget = self.calls_per_check
                turn.allowance -= budget
            index = progress.take()
            if index is None:
                if turn.allowance is not None and budget is not None:
                    turn.allowance += budget
                return
            account = found.get(progress.ids[index])
            with gates.using(batch.platform, budget=budget) as use:
                if progress.ids[index] in unreadable:
                    outcome = Checked.ERROR  # nothing to verify with until the key is back
                elif account is None:
                    outcome = Checked.GONE
                else:
                    outcome = await self._check(account, run)
            turn.sent += use.sent
            if turn.allowance is not None and budget is not None:
                turn.allowance += budget - use.sent
            if use.refused:
                progress.give_back(index)  # not checked: the quota ran out under it
                return
            counts[outcome.value] += 1
            self.on_checked(batch.platform, outcome)
            progress.done(index)

    async def _check(self, account: Account, run: CheckRun) -> Checked:
        try:
            return await self.checker.check(account, run)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one account's surprise must not stop the batch
            logger.warning(
                "account check failed",
                extra={
                    "account_id": str(account.id),
                    "platform": account.platform,
                    "error": type(exc).__name__,
                },
            )
            return Checked.ERROR


async def _readable_accounts(
    uow: AbstractHealthUnitOfWork, ids: list[uuid.UUID]
) -> tuple[dict[uuid.UUID, Account], frozenset[uuid.UUID]]:
    """The batch's accounts, and the ids of those whose sealed credentials do not open.

    One such row (sealed under a key since removed from the keyring, or copied from another
    account) made the whole batch fail, at every turn of every run, so no account that shared
    its id range was ever checked again. It is skipped and logged instead, its status left
    alone: the platform never said its token was dead.
    """
    try:
        return {a.id: a for a in await uow.accounts.get_many(ids)}, frozenset()
    except DecryptionError:
        pass
    found: dict[uuid.UUID, Account] = {}
    unreadable: set[uuid.UUID] = set()
    for account_id in ids:
        try:
            account = await uow.accounts.get(account_id)
        except DecryptionError:
            unreadable.add(account_id)
        else:
            if account is not None:
                found[account_id] = account
    logger.error(
        "account credentials do not open with the keyring; skipped",
        extra={"accounts": len(unreadable), "account_ids": sorted(map(str, unreadable))[:20]},
    )
    return found, frozenset(unreadable)


class _Progress:
    """Which of a batch's accounts (in id order) are taken and done; the cursor is the last id
    below which every one is done."""

    def __init__(self, ids: list[uuid.UUID]) -> None:
        self.ids = ids
        self._next = 0
        self._returned: list[int] = []
        self._done = [False] * len(ids)
        self._prefix = 0  # every index below this is done

    def take(self) -> int | None:
        if self._returned:
            return self._returned.pop()
        if self._next >= len(self.ids):
            return None
        self._next += 1
        return self._next - 1

    def give_back(self, index: int) -> None:
        self._returned.append(index)

    def done(self, index: int) -> None:
        self._done[index] = True
        while self._prefix < len(self._done) and self._done[self._prefix]:
            self._prefix += 1

    @property
    def complete(self) -> bool:
        return self._prefix == len(self.ids)

    @property
    def cursor(self) -> uuid.UUID | None:
        return self.ids[self._prefix - 1] if self._prefix else None
