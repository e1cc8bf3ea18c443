"""One account's connection check, end to end.

1. Verify the token with the platform's cheapest "who am I" call.
2. Works: recover a `token_expired` account (or end a failure streak); a healthy row is not
   written at all. Transient or policy: nothing changes.
3. An auth failure: one refresh through `refresh_account`, the single-flight refresh token-keeper
   uses (row lock, re-check under it, new tokens committed first). It refreshes only if the
   account is still the version this check verified; if someone changed it meanwhile (a
   refresh, a reconnect), the current tokens are verified instead of refreshing again. Then
   verify once more: works, and the account is healthy (a refresh repaired it); fails again,
   and the two-strike rule applies (`domain.checks.strike`). A refresh the platform refuses as
   revoked is verified by `refresh_account` itself, which then expires a connected account;
   the strike records it. A platform that cannot refresh leaves the first verdict standing.

Every status change happens under the row lock with the version check, and only if the account
is still the version the finding was about; otherwise the check reports `changed` and leaves it
to the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from health_checker.domain.checks import (
    CHECKED_STATUSES,
    Checked,
    disconnect_reason,
    needs_write_on_success,
    strike,
    succeed,
)
from health_checker.domain.runs import CheckRun
from mooring.accounts.model import Account, AccountStatus
from mooring.accounts.port import StaleAccountError
from mooring.accounts.refresh import RefreshOutcome, refresh_account
from mooring.accounts.tokens import token_set_of
from mooring.events.base import utcnow
from mooring.platforms.base import PlatformAdapter
from mooring.platforms.outcomes import Outcome
from mooring.uow.base import UnitOfWork

__all__ = ["AccountChecker"]

logger = logging.getLogger(__name__)

_VERDICT = {Outcome.TRANSIENT: Checked.TRANSIENT, Outcome.POLICY: Checked.POLICY}


@dataclass(frozen=True, kw_only=True)
class AccountChecker:
    uow: Callable[[], UnitOfWork]
    adapters: Callable[[str], PlatformAdapter]
    now: Callable[[], datetime] = utcnow

    async def check(self, account: Account, run: CheckRun) -> Checked:
        """Check `account` (as read for the batch) for `run`; never raises for a platform's
        answer, only for the infrastructure (the database)."""
        adapter = self.adapters(account.platform)
        verdict = await adapter.verify(token_set_of(account))
        if verdict.is_ok:
            return await self._works(account, run)
        if verdict.outcome is not Outcome.REVOKED:
            return _VERDICT[verdict.outcome]
        return await self._auth_failure(account, adapter, run)

    async def _auth_failure(  # noqa: PLR0911 - one return per refresh outcome
        self, account: Account, adapter: PlatformAdapter, run: CheckRun
    ) -> Checked:
        seen_version = account.version
        async with self.uow() as uow:
            refreshed = await refresh_account(
                uow,
                account.id,
                self.adapters,
                still_due=lambda current: current.version == seen_version,
                statuses=CHECKED_STATUSES,
                now=self.now,
                check_run_id=run.id,
            )
        outcome, current = refreshed.outcome, refreshed.account
        if outcome in {RefreshOutcome.MISSING, RefreshOutcome.SKIPPED} or current is None:
            return Checked.GONE
        if outcome is RefreshOutcome.TRANSIENT:
            return Checked.TRANSIENT
        if outcome is RefreshOutcome.REVOKED:  # refused, and the token verified dead again
            return await self._strike(current, account.status, run)
        if outcome is RefreshOutcome.POLICY:  # cannot be refreshed: the first verdict stands
            return await self._strike(account, account.status, run)
        # Refreshed now, or by someone else since this check read it: verify what it holds.
        again = await adapter.verify(token_set_of(current))
        if again.is_ok:
            works = await self._works(current, run)
            repaired = outcome is RefreshOutcome.REFRESHED and works is Checked.OK
            return Checked.REPAIRED if repaired else works
        if again.outcome is Outcome.REVOKED:
            return await self._strike(current, current.status, run)
        return _VERDICT[again.outcome]

    async def _works(self, seen: Account, run: CheckRun) -> Checked:
        if not needs_write_on_success(seen):
            return Checked.OK
        return await self._change(
            seen, run, lambda account: succeed(account, check_run_id=run.id, at=self.now())
        )

    async def _strike(self, seen: Account, status_before: AccountStatus, run: CheckRun) -> Checked:
        def apply(account: Account) -> Checked:
            now = self.now()
            return strike(
                account,
                status_before=status_before,
                reason=disconnect_reason(account, now),
                check_run_id=run.id,
                run_started_at=run.started_at,
                at=now,
            )

        return await self._change(seen, run, apply)

    async def _change(
        self, seen: Account, run: CheckRun, apply: Callable[[Account], Checked]
    ) -> Checked:
        """Apply a finding to the account if it is still the version the finding was about."""
        async with self.uow() as uow:
            account = await uow.accounts.get(seen.id, lock=True)
            if account is None or account.status not in CHECKED_STATUSES:
                return Checked.GONE
            if account.version != seen.version:
                return Checked.CHANGED
            checked = apply(account)
            if checked in {Checked.GONE, Checked.ALREADY}:
                return checked
            try:
                await uow.accounts.save(account)
            except StaleAccountError:  # only if someone wrote without the row lock
                return Checked.CHANGED
            await uow.commit()
        if checked is not Checked.OK:
            logger.info(
                "connection check changed an account",
                extra={
                    "account_id": str(account.id),
                    "platform": account.platform,
                    "outcome": checked.value,
                    "status": account.status,
                    "check_run_id": str(run.id),
                },
            )
        return checked
