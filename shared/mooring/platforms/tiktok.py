"""TikTok Login Kit v2: 2 h access tokens, rotating refresh tokens (docs/platforms.md, TikTok).

Plain httpx rather than Authlib throughout: TikTok names the client `client_key` (in the
authorize URL and the token form) where RFC 6749 says `client_id`, and reports API errors inside
200 answers, so neither Authlib's URL builder nor its client authentication fits.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from mooring.platforms import descriptions, oauth
from mooring.platforms.base import BaseAdapter
from mooring.platforms.classify import utc_now
from mooring.platforms.http import Clock, bearer, malformed, optional_str, require_str
from mooring.platforms.results import AuthorizationRequest, Profile, TokenSet
from mooring.platforms.settings import TikTokSettings
from mooring.platforms.signals import ErrorSignals, tiktok_signals

__all__ = ["TikTokAdapter"]


class TikTokAdapter(BaseAdapter):
    DESCRIPTION = descriptions.TIKTOK
    SIGNALS = ErrorSignals(api=tiktok_signals, token=tiktok_signals)

    def __init__(
        self,
        settings: TikTokSettings,
        *,
        http_client: httpx.AsyncClient,
        timeout: httpx.Timeout,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(http_client=http_client, timeout=timeout, clock=clock)
        self._settings = settings

    def _token_url(self) -> str:
        return f"{self._settings.api_base}/v2/oauth/token/"

    def _client_form(self) -> dict[str, str]:
        return {
            "client_key": self._settings.client_id,
            "client_secret": self._settings.client_secret.get_secret_value(),
        }

    async def start_authorization(
        self,
        *,
        redirect_uri: str,
        state: str,
        instance_url: str | None = None,  # noqa: ARG002
    ) -> AuthorizationRequest:
        url = httpx.URL(f"{self._settings.auth_base}/v2/auth/authorize/").copy_merge_params(
            {
                "client_key": self._settings.client_id,
                "response_type": "code",
                "scope": ",".join(self.DESCRIPTION.scopes),
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return AuthorizationRequest(url=str(url), state=state)

    async def exchange_code(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: SecretStr | None = None,
        service_url: str | None = None,  # noqa: ARG002
    ) -> TokenSet:
        form = {
            **self._client_form(),
            "code": code,
            "grant_type": "authorization_code",
            "redirect_uri": redirect_uri,
        }
        if code_verifier is not None:
            form["code_verifier"] = code_verifier.get_secret_value()
        body = await self._http.call("POST", self._token_url(), data=form)
        return oauth.token_set_from(body, platform=self.platform, now=self.now())

    async def refresh(self, tokens: TokenSet) -> TokenSet:
        self._require_refresh_token(tokens)
        assert tokens.refresh_token is not None  # noqa: S101 - checked just above
        body = await self._http.call(
            "POST",
            self._token_url(),
            data={
                **self._client_form(),
                "grant_type": "refresh_token",
                "refresh_token": tokens.refresh_token.get_secret_value(),
            },
        )
        return oauth.token_set_from(body, platform=self.platform, now=self.now(), previous=tokens)

    async def _user(self, tokens: TokenSet, fields: str) -> dict[str, Any]:
        body = await self._http.call(
            "GET",
            f"{self._settings.api_base}/v2/user/info/",
            params={"fields": fields},
            headers=bearer(tokens.access_token),
        )
        data = body.get("data")
        user = data.get("user") if isinstance(data, dict) else None
        if not isinstance(user, dict):
            raise malformed(self.platform, "missing 'data.user'")
        return user

    async def fetch_profile(self, tokens: TokenSet) -> Profile:
        user = await self._user(tokens, "open_id,union_id,avatar_url,display_name,username")
        return Profile(
            platform_account_id=require_str(self.platform, user, "open_id"),
            username=optional_str(user, "username"),
            display_name=optional_str(user, "display_name"),
            avatar_url=optional_str(user, "avatar_url"),
        )

    async def _who_am_i(self, tokens: TokenSet) -> None:
        await self._user(tokens, "open_id")
