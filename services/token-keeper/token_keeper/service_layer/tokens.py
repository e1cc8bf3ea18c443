"""A valid token on demand, for publishers: valid for at least a margin, refreshed first if not.

The common case reads the row without a lock and answers. A token that would not last the
margin goes through the same single-flight refresh as the workers (`Refresher.refresh_for`):
however many publishers ask at once, in however many replicas, one refresh call reaches the
platform and the others get the token it brought. The token itself is returned to the caller
and to nobody else: it is never logged, counted or put in an event here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import SecretStr

from mooring.accounts.model import Account
from mooring.accounts.refresh import RefreshOutcome
from mooring.events.base import utcnow
from mooring.uow.base import UnitOfWork
from token_keeper.adapters.metrics import KeeperMetrics
from token_keeper.domain.errors import (
    AccountInactiveError,
    AccountNotConnectedError,
    AccountNotFoundError,
    RefreshRefusedError,
    RefreshUnavailableError,
)
from token_keeper.domain.windows import TokenFacts, effective_expiry, valid_for
from token_keeper.service_layer.refresher import Attempt, Refresher

__all__ = ["IssuedToken", "TokenDesk"]

_MIN_RETRY = timedelta(seconds=1)


@dataclass(frozen=True)
class IssuedToken:
    access_token: SecretStr
    expires_at: datetime | None
    platform: str
    service_url: str | None
    refreshed: bool

    @classmethod
    def of(cls, account: Account, *, refreshed: bool) -> IssuedToken:
        facts = TokenFacts.of(account)
        token = account.credentials.access_token
        if token is None:  # an account without an access token was never connected
            raise AccountNotConnectedError(account.id, "without an access token")
        return cls(
            access_token=token,
            expires_at=effective_expiry(facts.description, facts.expires_at, facts.issued_at),
            platform=account.platform,
            service_url=account.service_url,
            refreshed=refreshed,
        )


def _usable(account: Account | None, account_id: uuid.UUID) -> Account:
    if account is None:
        raise AccountNotFoundError(account_id)
    if account.status != "connected":
        raise AccountNotConnectedError(account_id, account.status)
    if not account.active:
        raise AccountInactiveError(account_id)
    return account


class TokenDesk:
    def __init__(
        self,
        *,
        uow: Callable[[], UnitOfWork],
        refresher: Refresher,
        margin: timedelta,
        metrics: KeeperMetrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._uow = uow
        self._refresher = refresher
        self._margin = margin
        self._metrics = metrics
        self._clock = clock

    async def token(self, account_id: uuid.UUID) -> IssuedToken:
        async with self._uow() as uow:
            account = _usable(await uow.accounts.get(account_id), account_id)
        if valid_for(TokenFacts.of(account), self._margin, self._clock()):
            return self._served(account, refreshed=False)
        attempt = await self._refresher.refresh_for(account_id, self._margin)
        return self._after(account_id, attempt)

    def _after(self, account_id: uuid.UUID, attempt: Attempt) -> IssuedToken:
        outcome = attempt.outcome
        if attempt.busy:
            raise RefreshUnavailableError(account_id, "refresh_in_progress", _MIN_RETRY)
        if outcome is RefreshOutcome.MISSING:
            raise AccountNotFoundError(account_id)
        account = _usable(attempt.account, account_id)  # revoked, given up, changed meanwhile
        if outcome is RefreshOutcome.REFRESHED:
            return self._served(account, refreshed=True)
        reason = attempt.classification.reason if attempt.classification else "cooling_down"
        if outcome is RefreshOutcome.POLICY:
            raise RefreshRefusedError(account_id, reason)
        now = self._clock()
        if outcome is RefreshOutcome.NOT_DUE and valid_for(
            TokenFacts.of(account), self._margin, now
        ):
            return self._served(account, refreshed=False)  # another caller just refreshed it
        wait = account.next_refresh_at - now if account.next_refresh_at else _MIN_RETRY
        raise RefreshUnavailableError(account_id, reason, max(wait, _MIN_RETRY))

    def _served(self, account: Account, *, refreshed: bool) -> IssuedToken:
        issued = IssuedToken.of(account, refreshed=refreshed)
        if self._metrics is not None:
            self._metrics.served.labels(account.platform, str(refreshed).lower()).inc()
        return issued
