"""One refresh of one account at a time, across every replica and every caller.

token-keeper's workers and its on-demand route, and health-checker's repair after a failed
check, all refresh through `refresh_account`: it takes the account's row lock (a second caller
waits on it), re-checks under the lock that a refresh is still needed (the one who waited finds
the new tokens and returns `not_due`: one call reaches the platform however many wait), calls
the platform, and commits the new tokens before anything else. A refresh the platform calls
revoked is not believed at once: the current access token is verified first, because a rotating
refresh token that died in a lost race (a response that never arrived) leaves a working access
token, and that account is not dead yet.

The caller's unit of work is committed here (the new tokens must be durable before the caller
does anything with them); transient and policy outcomes are returned for the caller's own
bookkeeping and change nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from mooring.accounts.model import Account, AccountStatus
from mooring.accounts.tokens import token_set_of
from mooring.events.base import utcnow
from mooring.platforms.base import PlatformAdapter
from mooring.platforms.exceptions import PlatformError
from mooring.platforms.outcomes import Classification, Outcome
from mooring.uow.base import UnitOfWork

__all__ = ["RefreshOutcome", "RefreshResult", "refresh_account"]

logger = logging.getLogger(__name__)


class RefreshOutcome(StrEnum):
    REFRESHED = "refreshed"
    NOT_DUE = "not_due"  # another caller refreshed it meanwhile (or nothing to do)
    REVOKED = "revoked"  # status is now token_expired; account.disconnected raised
    TRANSIENT = "transient"  # try later; `classification.retry_after` when the platform said
    POLICY = "policy"  # a rule, not a dead token: recorded by the caller
    SKIPPED = "skipped"  # not in a status this caller refreshes
    MISSING = "missing"  # no such account (removed meanwhile)


@dataclass(frozen=True)
class RefreshResult:
    outcome: RefreshOutcome
    account: Account | None = None
    classification: Classification | None = None


_CONNECTED: tuple[AccountStatus, ...] = ("connected",)


async def refresh_account(
    uow: UnitOfWork,
    account_id: uuid.UUID,
    adapter_for: Callable[[str], PlatformAdapter],
    *,
    still_due: Callable[[Account], bool],
    statuses: Collection[AccountStatus] = _CONNECTED,
    now: Callable[[], datetime] = utcnow,
    check_run_id: uuid.UUID | None = None,
) -> RefreshResult:
    """Refresh `account_id` if, under its lock, `still_due(account)` says so. `uow` is entered."""
    account = await uow.accounts.get(account_id, lock=True)
    if account is None:
        return RefreshResult(RefreshOutcome.MISSING)
    # Inactive accounts still refresh (publishers may need them again): only the status counts.
    if account.status not in statuses:
        return RefreshResult(RefreshOutcome.SKIPPED, account)
    if not still_due(account):
        return RefreshResult(RefreshOutcome.NOT_DUE, account)
    adapter = adapter_for(account.platform)
    current = token_set_of(account)
    try:
        fresh = await adapter.refresh(current)
    except PlatformError as error:
        return await _refused(uow, account, adapter, error.classification, now(), check_run_id)
    account.store_tokens(fresh, at=now())
    await uow.accounts.save(account)
    await uow.commit()  # durable before anything else happens with them
    return RefreshResult(RefreshOutcome.REFRESHED, account, Classification.ok())


async def _refused(
    uow: UnitOfWork,
    account: Account,
    adapter: PlatformAdapter,
    verdict: Classification,
    at: datetime,
    check_run_id: uuid.UUID | None,
) -> RefreshResult:
    if verdict.outcome is Outcome.TRANSIENT:
        return RefreshResult(RefreshOutcome.TRANSIENT, account, verdict)
    if verdict.outcome is not Outcome.REVOKED:
        return RefreshResult(RefreshOutcome.POLICY, account, verdict)
    # A lost race is not a revocation: does the access token we hold still work?
    check = await adapter.verify(token_set_of(account))
    if check.is_ok:
        logger.warning(
            "refresh refused but the access token still works; not disconnecting",
            extra={"account_id": str(account.id), "platform": account.platform,
                   "reason": verdict.reason},
        )  # fmt: skip
        return RefreshResult(RefreshOutcome.TRANSIENT, account, verdict)
    if check.outcome is not Outcome.REVOKED:
        return RefreshResult(RefreshOutcome.TRANSIENT, account, check)
    account.expire("revoked", check_run_id=check_run_id, at=at)
    account.last_failure = f"revoked:{verdict.reason}"
    await uow.accounts.save(account)
    await uow.commit()
    return RefreshResult(RefreshOutcome.REVOKED, account, verdict)
