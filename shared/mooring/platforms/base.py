"""The adapter contract and the behaviour every adapter shares.

`PlatformAdapter` is what token-keeper and health-checker need (profile, candidates, refresh,
verify); `OAuthPlatformAdapter` adds the connect steps the connector drives. Bluesky is not an
OAuth adapter: it logs in with an app password (`BlueskyAdapter.login`).

Every method returns a typed result or raises a `PlatformError`; `verify` returns the
classification itself, because "the token is dead" is an answer there, not a failure.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar, Protocol, runtime_checkable

import httpx
from pydantic import SecretStr

from mooring.platforms.classify import utc_now
from mooring.platforms.descriptions import PlatformDescription
from mooring.platforms.exceptions import PlatformError, RefreshNotAllowedError, RevokedError
from mooring.platforms.http import Clock, PlatformHttp
from mooring.platforms.outcomes import Classification
from mooring.platforms.results import AuthorizationRequest, Candidate, Profile, TokenSet
from mooring.platforms.signals import ErrorSignals

__all__ = ["BaseAdapter", "OAuthPlatformAdapter", "PlatformAdapter"]


@runtime_checkable
class PlatformAdapter(Protocol):
    @property
    def description(self) -> PlatformDescription: ...

    async def fetch_profile(self, tokens: TokenSet) -> Profile: ...

    async def list_candidates(self, tokens: TokenSet) -> tuple[Candidate, ...]: ...

    async def refresh(self, tokens: TokenSet) -> TokenSet: ...

    async def verify(self, tokens: TokenSet) -> Classification: ...


@runtime_checkable
class OAuthPlatformAdapter(PlatformAdapter, Protocol):
    async def start_authorization(
        self, *, redirect_uri: str, state: str, instance_url: str | None = None
    ) -> AuthorizationRequest: ...

    async def exchange_code(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: SecretStr | None = None,
        service_url: str | None = None,
    ) -> TokenSet: ...


class BaseAdapter:
    """Shared plumbing; subclasses set `DESCRIPTION` and `SIGNALS` and implement `_who_am_i`."""

    DESCRIPTION: ClassVar[PlatformDescription]
    SIGNALS: ClassVar[ErrorSignals]

    def __init__(
        self, *, http_client: httpx.AsyncClient, timeout: httpx.Timeout, clock: Clock = utc_now
    ) -> None:
        self._clock = clock
        self._http = PlatformHttp(
            client=http_client,
            platform=self.DESCRIPTION.identifier,
            signals=self.SIGNALS.api,
            timeout=timeout,
            clock=clock,
        )

    @property
    def description(self) -> PlatformDescription:
        return self.DESCRIPTION

    @property
    def platform(self) -> str:
        return self.DESCRIPTION.identifier

    def now(self) -> datetime:
        return self._clock()

    async def list_candidates(self, tokens: TokenSet) -> tuple[Candidate, ...]:  # noqa: ARG002
        return ()

    async def refresh(self, tokens: TokenSet) -> TokenSet:  # noqa: ARG002
        raise self._refuse("refresh_unsupported", "this platform has no refresh; reconnect")

    async def verify(self, tokens: TokenSet) -> Classification:
        """The cheapest "who am I" call, classified. Never raises a `PlatformError`."""
        try:
            await self._who_am_i(tokens)
        except PlatformError as error:
            return error.classification
        return Classification.ok()

    async def _who_am_i(self, tokens: TokenSet) -> None:
        raise NotImplementedError

    def _refuse(
        self, reason: str, detail: str, *, retry_after: timedelta | None = None
    ) -> RefreshNotAllowedError:
        return RefreshNotAllowedError(
            self.platform, Classification.policy(reason, retry_after=retry_after, detail=detail)
        )

    def _require_refresh_token(self, tokens: TokenSet) -> None:
        if tokens.refresh_token is None:
            raise self._refuse(
                "no_refresh_token", "no refresh token was issued; the user must reconnect"
            )
        if tokens.refresh_expires_at is not None and tokens.refresh_expires_at <= self.now():
            raise RevokedError(
                self.platform,
                Classification.revoked(
                    "refresh_token_expired", detail="the refresh token has expired"
                ),
            )

    def _check_extendable(self, tokens: TokenSet) -> None:
        """Instagram and Threads extend a token only when >= 24 h old and not yet expired."""
        now = self.now()
        if tokens.is_expired(now):
            raise RevokedError(
                self.platform,
                Classification.revoked(
                    "token_expired", detail="an expired long-lived token cannot be extended"
                ),
            )
        min_age = timedelta(seconds=self.DESCRIPTION.refresh_min_age_seconds)
        age = tokens.age(now)
        if age < min_age:
            raise self._refuse(
                "refresh_too_early",
                f"the token may be extended once it is {min_age.total_seconds() / 3600:g} h old",
                retry_after=min_age - age,
            )
