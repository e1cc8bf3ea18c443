"""Connecting Bluesky: a handle and an app password, no redirect.

The handle is resolved to its DID and PDS first, so billing-gate can be asked about the very
identity (a reconnect of a known DID is never refused) and an explicit reconnect of another
account is refused, both before one of the account's 30 `createSession`s per 5 minutes is
spent. The session tokens and the app password are kept sealed in the account's credentials:
the app password is what a later `createSession` needs if the session is ever lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import SecretStr

from connector.domain.accounts import APP_PASSWORD, AccountSpec
from connector.domain.errors import (
    BillingUnavailableError,
    NotFoundError,
    PlanLimitError,
    WrongAccountError,
)
from connector.domain.ratelimit import StartWindow
from connector.service_layer.admission import Admission, Admitted
from connector.service_layer.gateways import BillingGateway, PlatformGateway
from connector.service_layer.limits import count_start
from connector.service_layer.unit_of_work import AbstractConnectorUnitOfWork
from mooring.billing import BillingUnavailable, PlanLimitReached

__all__ = ["BlueskyConnect"]

PLATFORM = "bluesky"


@dataclass(frozen=True, kw_only=True)
class BlueskyConnect:
    uow: Callable[[], AbstractConnectorUnitOfWork]
    platforms: PlatformGateway
    billing: BillingGateway
    admission: Admission
    start_window: StartWindow

    async def connect(
        self,
        workspace_id: uuid.UUID,
        *,
        handle: str,
        app_password: SecretStr,
        reconnect_account_id: uuid.UUID | None = None,
    ) -> Admitted:
        await count_start(self.uow, self.start_window, workspace_id)
        bluesky = self.platforms.bluesky()
        did, pds = await bluesky.resolve(handle)
        if reconnect_account_id is not None:
            await self._check_reconnect(workspace_id, reconnect_account_id, did)
        else:
            answer = await self.billing.check(workspace_id, PLATFORM, did)
            if isinstance(answer, PlanLimitReached):
                raise PlanLimitError(answer.problem)
            if isinstance(answer, BillingUnavailable):
                raise BillingUnavailableError(answer.retry_after_s)
        tokens = await bluesky.login(handle=handle, app_password=app_password, resolved=(did, pds))
        profile = await bluesky.fetch_profile(tokens)
        spec = AccountSpec(
            platform=PLATFORM,
            platform_account_id=profile.platform_account_id,
            account_type="personal",
            profile=profile,
            tokens=tokens,
            extra={APP_PASSWORD: app_password},
        )
        (admitted,) = await self.admission.admit(
            workspace_id, [spec], reconnect_account_id=reconnect_account_id
        )
        return admitted

    async def _check_reconnect(
        self, workspace_id: uuid.UUID, account_id: uuid.UUID, did: str
    ) -> None:
        async with self.uow() as uow:
            account = await uow.accounts.get(account_id)
        if account is None or account.workspace_id != workspace_id:
            raise NotFoundError("account")
        if (account.platform, account.platform_account_id) != (PLATFORM, did):
            raise WrongAccountError(account_id)
