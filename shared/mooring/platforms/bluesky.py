"""Bluesky with app passwords: `createSession` on the account's PDS, rotating sessions.

`createSession` is rate-limited (30 per 5 min per account), so it runs only at connect;
refresh uses `refreshSession` (a new pair; the old refreshJwt keeps a 2 h grace) and verify
uses `getSession` (platforms.md §3.11). Expiries come from each JWT's own `exp` claim.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from mooring.platforms import descriptions
from mooring.platforms.base import BaseAdapter
from mooring.platforms.bluesky_identity import (
    check_app_password,
    jwt_expiry,
    normalise_handle,
    resolve_pds,
)
from mooring.platforms.classify import utc_now
from mooring.platforms.exceptions import PolicyError
from mooring.platforms.http import Clock, bearer, malformed, optional_str, require_str
from mooring.platforms.outcomes import Classification
from mooring.platforms.public_url import HostResolver, UrlGuard
from mooring.platforms.results import Profile, TokenSet
from mooring.platforms.settings import BlueskySettings
from mooring.platforms.signals import ErrorSignals, bluesky_signals

__all__ = ["BlueskyAdapter"]

_INACTIVE = frozenset({"takendown", "suspended", "deactivated"})


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

    async def login(self, *, handle: str, app_password: SecretStr) -> TokenSet:
        """Resolve the handle's PDS and open a session with an app password (never the main one)."""
        check_app_password(app_password.get_secret_value())
        identifier = normalise_handle(handle)
        did, pds = await resolve_pds(
            self._http,
            self._guard,
            identifier=identifier,
            resolver_base=self._settings.resolver_base,
            plc_directory_base=self._settings.plc_directory_base,
        )
        body = await self._pds_call(
            "POST",
            pds,
            "com.atproto.server.createSession",
            json={"identifier": did, "password": app_password.get_secret_value()},
        )
        return self._session(body, pds)

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
        return self._http.body(response)

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
        return self._session(body, pds)

    async def _get_session(self, tokens: TokenSet) -> dict[str, Any]:
        body = await self._pds_call(
            "GET", self._pds(tokens), "com.atproto.server.getSession", token=tokens.access_token
        )
        status = optional_str(body, "status")
        if body.get("active") is False or status in _INACTIVE:
            raise PolicyError(
                self.platform,
                Classification.policy("account_inactive", detail=status or "inactive"),
            )
        return body

    async def fetch_profile(self, tokens: TokenSet) -> Profile:
        session = await self._get_session(tokens)
        did = require_str(self.platform, session, "did")
        profile = await self._pds_call(
            "GET",
            self._pds(tokens),
            "app.bsky.actor.getProfile",
            token=tokens.access_token,
            params={"actor": did},
        )
        return Profile(
            platform_account_id=did,
            username=optional_str(profile, "handle") or optional_str(session, "handle"),
            display_name=optional_str(profile, "displayName"),
            avatar_url=optional_str(profile, "avatar"),
        )

    async def _who_am_i(self, tokens: TokenSet) -> None:
        await self._get_session(tokens)
