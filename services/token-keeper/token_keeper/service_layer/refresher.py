"""One refresh of one account, for the workers and the on-demand route alike.

The single flight is the kernel's `refresh_account`: it takes the account's row lock (every
other caller, in this process or another replica, waits on it), asks `still_due` again under the
lock (a waiter finds the new tokens and gets `not_due`), calls the platform while holding the
lock, and commits the new tokens before anything else. What it leaves to its caller is the
bookkeeping of a transient or policy failure, done here in the same transaction, still under
the lock, so two failing callers cannot both count.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from psycopg import errors as pg_errors
from sqlalchemy.exc import DBAPIError

from mooring.accounts.model import Account
from mooring.accounts.refresh import RefreshOutcome, refresh_account
from mooring.events.base import utcnow
from mooring.platforms.base import PlatformAdapter
from mooring.platforms.outcomes import Classification
from mooring.platforms.registry import get_description
from mooring.uow.base import UnitOfWork
from token_keeper.adapters.metrics import KeeperMetrics
from token_keeper.domain.failures import FailureRules, record_policy, record_transient
from token_keeper.domain.windows import RefreshRules, TokenFacts, refresh_due, valid_for

__all__ = ["Attempt", "Refresher", "Trigger"]

logger = logging.getLogger(__name__)

Trigger = Literal["worker", "on_demand"]
_GAVE_UP_WAITING = (pg_errors.QueryCanceled, pg_errors.LockNotAvailable)
_CALLED_PLATFORM = (
    RefreshOutcome.REFRESHED,
    RefreshOutcome.REVOKED,
    RefreshOutcome.TRANSIENT,
    RefreshOutcome.POLICY,
)


@dataclass(frozen=True)
class Attempt:
    """How one refresh attempt ended; `gave_up` when this transient failure was the last
    straw (the account is now `token_expired`, reason `refresh_failed`)."""

    outcome: RefreshOutcome
    account: Account | None
    classification: Classification | None = None
    gave_up: bool = False
    busy: bool = False  # waited for the row lock past the database's timeout

    @property
    def label(self) -> str:
        if self.busy:
            return "busy"
        return "gave_up" if self.gave_up else self.outcome.value


class Refresher:
    def __init__(
        self,
        *,
        uow: Callable[[], UnitOfWork],
        adapter_for: Callable[[str], PlatformAdapter],
        refresh_rules: RefreshRules,
        failure_rules: FailureRules,
        metrics: KeeperMetrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._uow = uow
        self._adapter_for = adapter_for
        self._rules = refresh_rules
        self._failures = failure_rules
        self._metrics = metrics
        self._clock = clock

    async def refresh_if_due(self, account_id: uuid.UUID) -> Attempt:
        """The worker's refresh: only if, under the lock, the account is still in its window."""

        def still_due(account: Account) -> bool:
            return refresh_due(TokenFacts.of(account), self._rules, self._clock())

        return await self._refresh(account_id, still_due, "worker")

    async def refresh_for(self, account_id: uuid.UUID, margin: timedelta) -> Attempt:
        """The on-demand refresh: only if, under the lock, the token would not last `margin`
        and the account is not cooling down after a failure."""

        def still_due(account: Account) -> bool:
            now = self._clock()
            facts = TokenFacts.of(account)
            cooling = facts.next_refresh_at is not None and facts.next_refresh_at > now
            return not valid_for(facts, margin, now) and not cooling

        return await self._refresh(account_id, still_due, "on_demand")

    async def _refresh(
        self, account_id: uuid.UUID, still_due: Callable[[Account], bool], trigger: Trigger
    ) -> Attempt:
        started = time.perf_counter()
        try:
            async with self._uow() as uow:
                result = await refresh_account(
                    uow, account_id, self._adapter_for, still_due=still_due, now=self._clock
                )
                attempt = Attempt(result.outcome, result.account, result.classification)
                if result.outcome in (RefreshOutcome.TRANSIENT, RefreshOutcome.POLICY):
                    attempt = await self._book(uow, attempt)
        except DBAPIError as exc:
            # Another caller has held the row lock (its platform call hanging) for longer than
            # the database lets a statement wait: it is refreshing this account right now.
            if not isinstance(exc.orig, _GAVE_UP_WAITING):
                raise
            attempt = Attempt(RefreshOutcome.NOT_DUE, None, busy=True)
        self._observe(attempt, trigger, time.perf_counter() - started)
        return attempt

    async def _book(self, uow: UnitOfWork, attempt: Attempt) -> Attempt:
        # refresh_account changed nothing and did not commit: the row lock is still ours.
        account, verdict = attempt.account, attempt.classification
        assert account is not None  # noqa: S101 - set for these outcomes
        assert verdict is not None  # noqa: S101
        now = self._clock()
        gave_up = False
        if attempt.outcome is RefreshOutcome.TRANSIENT:
            gave_up = record_transient(
                account,
                verdict.reason,
                retry_after=verdict.retry_after,
                rules=self._failures,
                now=now,
            )
        else:
            record_policy(
                account,
                verdict.reason,
                retry_after=verdict.retry_after,
                rules=self._failures,
                now=now,
            )
        await uow.accounts.save(account)
        await uow.commit()
        if gave_up:
            logger.warning(
                "refresh failing for too many days; account marked token_expired",
                extra={"account_id": str(account.id), "platform": account.platform,
                       "failing_days": account.refresh_failures, "reason": verdict.reason},
            )  # fmt: skip
        return Attempt(attempt.outcome, account, verdict, gave_up=gave_up)

    def _observe(self, attempt: Attempt, trigger: Trigger, seconds: float) -> None:
        account = attempt.account
        platform = account.platform if account is not None else "unknown"
        if attempt.outcome is RefreshOutcome.REFRESHED and account is not None:
            self._check_expiry(account)
        if self._metrics is None:
            return
        self._metrics.refreshes.labels(platform, attempt.label, trigger).inc()
        if attempt.outcome in _CALLED_PLATFORM:
            self._metrics.latency.labels(platform).observe(seconds)
        if attempt.outcome in _CALLED_PLATFORM[1:] and attempt.classification is not None:
            self._metrics.failures.labels(
                platform, attempt.outcome.value, attempt.classification.reason
            ).inc()

    def _check_expiry(self, account: Account) -> None:
        lifetime = get_description(account.platform).token_lifetime_seconds
        if account.token_expires_at is not None or lifetime is None:
            return
        # Not "never expires": the sweep counts the documented lifetime from the issue time.
        logger.warning(
            "token answer without expires_in on a platform whose tokens expire; due again "
            "after the documented lifetime",
            extra={"account_id": str(account.id), "platform": account.platform,
                   "lifetime_s": lifetime},
        )  # fmt: skip
        if self._metrics is not None:
            self._metrics.no_expiry.labels(account.platform).inc()
