"""Bluesky with app passwords: `createSession` on the account's PDS, rotating sessions.

`createSession` is rate-limited (30 per 5 min per account), so it runs only at connect;
refresh uses `refreshSession` (a new pair; the old refreshJwt keeps a 2 h grace) and verify
uses `getSession`, which only reads the session: it neither spends the `createSession` budget
nor rotates tokens. Expiries come from each JWT's own `exp` claim.

What a real PDS taught us, each refused here rather than stored as a healthy connection:

* A main password can have the app-password shape (`abcd-efgh-ijkl-mnop`); the PDS then opens a
  full-privilege session. Only a session whose access token carries the app-password scope
  (`com.atproto.appPass`) is accepted; any other is deleted on the PDS at once.
* A deactivated, suspended or taken-down account still gets a session (`active: false`,
  `status`): it must not connect, and a refresh that says so is a policy failure, not a success.
* The PDS's error `message` ("Invalid identifier or password") is kept in the error's detail.
* A PDS without an AppView cannot answer `app.bsky.actor.getProfile`: the profile then falls
  back to the session's own handle.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import httpx
from pydantic import SecretStr

from mooring.platforms import descriptions
from mooring.platforms.base import BaseAdapter
from mooring.platforms.bluesky_identity import (
    APP_PASSWORD_SCOPE,
    check_app_password,
    jwt_claims,
    jwt_expiry,
    normalise_handle,
    resolve_pds,
    xrpc_body,
)
from mooring.platforms.classify import utc_now
from mooring.platforms.exceptions import (
    AppPasswordRequiredError,
    PlatformError,
    PolicyError,
    RevokedError,
)
from mooring.platforms.http import Clock, bearer, malformed, optional_str, require_str
from mooring.platforms.outcomes import Classification
from mooring.platforms.public_url import HostResolver, UrlGuard
from mooring.platforms.results import Profile, TokenSet
from mooring.platforms.settings import BlueskySettings
from mooring.platforms.signals import ErrorSignals, bluesky_signals

__all__ = ["BlueskyAdapter", "BlueskyIdentity"]

logger = logging.getLogger(__name__)

_INACTIVE = frozenset({"takendown", "suspended", "deactivated"})
FULL_PRIVILEGE_SESSION = (
    "This password opened a full-privilege session, so it is the account's main password (or a "
    "privileged app password), not an App Password. Create an App Password in Bluesky under "
    "Settings > Privacy and security > App passwords; it looks like xxxx-xxxx-xxxx-xxxx."
)

BlueskyIdentity = tuple[str, str]  # (DID, PDS base URL)


class BlueskyAdapter(BaseAdapter):
    DESCRIPTION = descriptions.BLUESKY
    SIGNALS = ErrorSignals(api=bluesky_signals, token=bluesky_signals)

    def __init__(
        self,
        settings: BlueskySettings,
        *,
        http_client: httpx.AsyncClient,
        timeout: httpx.Timeout,
        clock: Clock = utc_now,
        resolver: HostResolver | None = None,
    ) -> None:
        super().__init__(http_client=http_client, timeout=timeout, clock=clock)
        self._settings = settings
        self._guard = UrlGuard(
            platform=self.platform, allowed_hosts=settings.allowed_hosts, resolver=resolver
        )

    async def resolve(self, handle: str) -> BlueskyIdentity:
        """The handle's (or DID's) DID and PDS, without logging in: the connector asks billing
        about the identity before it spends one of the account's 30 `createSession`s."""
        return await resolve_pds(
            self._http,
            self._guard,
            identifier=normalise_handle(handle),
            resolver_base=self._settings.resolver_base,
            plc_directory_base=self._settings.plc_directory_base,
        )

    async def login(
        self, *, handle: str, app_password: SecretStr, resolved: BlueskyIdentity | None = None
    ) -> TokenSet:
        """Resolve the handle's PDS (unless `resolved` is given) and open a session with an app
        password, never the main one: refused before any call when it lacks the shape, and
        after the call (the session deleted) when the PDS says it was not one."""
        check_app_password(app_password.get_secret_value())
        identifier = normalise_handle(handle)
        did, pds = resolved or await self.resolve(identifier)
        body = await self._pds_call(
            "POST",
            pds,
            "com.atproto.server.createSession",
            json={"identifier": did, "password": app_password.get_secret_value()},
        )
        return await self._accepted_session(body, pds, refreshing=False)

    async def _pds_call(
        self,
        method: str,
        pds: str,
        nsid: str,
        *,
        token: SecretStr | None = None,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        # The PDS comes from a user-controlled DID document: guarded, pinned, hops checked.
        response = await self._guard.request(
            self._http,
            method,
            f"{pds}/xrpc/{nsid}",
            json=json,
            params=params,
            headers=bearer(token) if token is not None else None,
        )
        return xrpc_body(self._http, response)

    def _session(self, body: dict[str, Any], pds: str) -> TokenSet:
        access = require_str(self.platform, body, "accessJwt")
        refresh = require_str(self.platform, body, "refreshJwt")
        return TokenSet(
            access_token=SecretStr(access),
            refresh_token=SecretStr(refresh),
            issued_at=self.now(),
            expires_at=jwt_expiry(access),
            refresh_expires_at=jwt_expiry(refresh),
            service_url=pds,
        )

    async def _accepted_session(
        self, body: dict[str, Any], pds: str, *, refreshing: bool
    ) -> TokenSet:
        """The session, unless its scope is not an app password's or the account is inactive.

        A refused session from a login is deleted on the PDS: nobody must hold it. A refresh
        that finds the account inactive leaves the new session alone (deleting it would end the
        old refresh token's grace too); the caller keeps what it had and reports the policy.
        """
        tokens = self._session(body, pds)
        scope = jwt_claims(tokens.access_token.get_secret_value()).get("scope")
        problem: PlatformError | None = None
        if scope != APP_PASSWORD_SCOPE:
            problem = AppPasswordRequiredError(
                self.platform, "app_password_required", FULL_PRIVILEGE_SESSION
            )
        elif (inactive := _inactive_status(body)) is not None:
            problem = PolicyError(
                self.platform,
                Classification.policy(
                    "account_inactive", detail=f"the Bluesky account is {inactive}"
                ),
            )
        if problem is None:
            return tokens
        if not refreshing or isinstance(problem, AppPasswordRequiredError):
            await self._end_session(pds, tokens)
        raise problem

    async def _end_session(self, pds: str, tokens: TokenSet) -> None:
        """Best effort: a session we refuse is deleted on the PDS (`deleteSession`)."""
        with contextlib.suppress(PlatformError):
            await self._pds_call(
                "POST", pds, "com.atproto.server.deleteSession", token=tokens.refresh_token
            )

    def _pds(self, tokens: TokenSet) -> str:
        if not tokens.service_url:
            raise malformed(self.platform, "the session has no PDS URL")
        return tokens.service_url

    async def refresh(self, tokens: TokenSet) -> TokenSet:
        self._require_refresh_token(tokens)
        assert tokens.refresh_token is not None  # noqa: S101 - checked just above
        pds = self._pds(tokens)
        body = await self._pds_call(
            "POST", pds, "com.atproto.server.refreshSession", token=tokens.refresh_token
        )
        return await self._accepted_session(body, pds, refreshing=True)

    async def _get_session(self, tokens: TokenSet) -> dict[str, Any]:
        body = await self._pds_call(
            "GET", self._pds(tokens), "com.atproto.server.getSession", token=tokens.access_token
        )
        inactive = _inactive_status(body)
        if inactive is not None:
            raise PolicyError(
                self.platform,
                Classification.policy(
                    "account_inactive", detail=f"the Bluesky account is {inactive}"
                ),
            )
        return body

    async def fetch_profile(self, tokens: TokenSet) -> Profile:
        session = await self._get_session(tokens)
        did = require_str(self.platform, session, "did")
        try:
            profile = await self._pds_call(
                "GET",
                self._pds(tokens),
                "app.bsky.actor.getProfile",
                token=tokens.access_token,
                params={"actor": did},
            )
        except RevokedError:
            raise
        except PlatformError as error:
            # A PDS without an AppView (self-hosted, or the AppView is down) cannot describe the
            # profile; the session names the account well enough to connect it.
            logger.info(
                "bluesky profile unavailable; using the session's handle",
                extra={
                    "reason": error.classification.reason,
                    "detail": error.classification.detail,
                },
            )
            profile = {}
        return Profile(
            platform_account_id=did,
            username=optional_str(profile, "handle") or optional_str(session, "handle"),
            display_name=optional_str(profile, "displayName"),
            avatar_url=optional_str(profile, "avatar"),
        )

    async def _who_am_i(self, tokens: TokenSet) -> None:
        await self._get_session(tokens)


def _inactive_status(body: dict[str, Any]) -> str | None:
    """`deactivated`, `suspended`, `takendown` (or `inactive`) when the session answer says the
    account is not active; None when it is."""
    status = optional_str(body, "status")
    if status in _INACTIVE:
        return status
    if body.get("active") is False:
        return status or "inactive"
    return None
