"""What the use cases need from outside the process, as protocols: the platforms and the gate.

`connector.adapters.platforms.PlatformDirectory` and `mooring.billing.BillingClient` are the
real ones; `connector.testing` has fakes. Keeping the use cases on these protocols is what
lets their rules be tested without a simulator or a billing-gate.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from pydantic import SecretStr

from mooring.billing import (
    Allowed,
    BillingUnavailable,
    PlanLimitReached,
    Released,
    ReservationStatus,
)
from mooring.platforms.base import OAuthPlatformAdapter
from mooring.platforms.results import Profile, TokenSet

__all__ = ["BillingGateway", "BlueskyGateway", "PlatformGateway"]


class BlueskyGateway(Protocol):
    async def resolve(self, handle: str) -> tuple[str, str]: ...

    async def login(
        self, *, handle: str, app_password: SecretStr, resolved: tuple[str, str] | None = None
    ) -> TokenSet: ...

    async def fetch_profile(self, tokens: TokenSet) -> Profile: ...


class PlatformGateway(Protocol):
    def oauth(self, platform: str) -> OAuthPlatformAdapter: ...

    def bluesky(self) -> BlueskyGateway: ...


class BillingGateway(Protocol):
    async def check(
        self,
        workspace_id: uuid.UUID,
        platform: str | None = None,
        platform_account_id: str | None = None,
    ) -> Allowed | PlanLimitReached | BillingUnavailable: ...

    async def reserve(
        self,
        workspace_id: uuid.UUID,
        platform: str | None = None,
        platform_account_id: str | None = None,
        *,
        reservation_id: uuid.UUID | None = None,
        ttl_s: int | None = None,
    ) -> Allowed | PlanLimitReached | BillingUnavailable: ...

    async def confirm(
        self,
        workspace_id: uuid.UUID,
        reservation_id: uuid.UUID,
        *,
        account_id: uuid.UUID,
        platform: str | None = None,
        platform_account_id: str | None = None,
    ) -> ReservationStatus | BillingUnavailable: ...

    async def release(
        self, workspace_id: uuid.UUID, reservation_id: uuid.UUID
    ) -> Released | BillingUnavailable: ...
