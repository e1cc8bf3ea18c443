"""Pinterest v5: HTTP Basic at the token endpoint and continuous refresh, where every refresh
returns a new refresh token and the used one dies (docs/platforms.md, Pinterest)."""

from __future__ import annotations

from typing import Any

import httpx

from mooring.platforms import descriptions
from mooring.platforms.http import bearer, optional_str, require_str
from mooring.platforms.oauth_adapter import OAuthAdapter
from mooring.platforms.outcomes import Classification
from mooring.platforms.results import Profile, TokenSet
from mooring.platforms.settings import PinterestSettings
from mooring.platforms.signals import ErrorSignals, pinterest_signals

__all__ = ["PinterestAdapter"]


def pinterest_token_signals(status: int, body: Any) -> Classification | None:
    # At the token endpoint a 400 `{"code": 1, "message": "Invalid refresh token."}` is a dead
    # grant; elsewhere code 1 is just a bad parameter.
    if status == httpx.codes.BAD_REQUEST and isinstance(body, dict) and body.get("code") == 1:
        return Classification.revoked("pinterest_invalid_grant", status_code=status)
    return pinterest_signals(status, body)


class PinterestAdapter(OAuthAdapter[PinterestSettings]):
    DESCRIPTION = descriptions.PINTEREST
    SIGNALS = ErrorSignals(api=pinterest_signals, token=pinterest_token_signals)
    CLIENT_AUTH = "client_secret_basic"
    SCOPE_SEPARATOR = ","

    def authorize_url(self) -> str:
        return f"{self._settings.auth_base}/oauth/"

    def token_url(self) -> str:
        return f"{self._settings.api_base}/v5/oauth/token"

    def refresh_extra(self) -> dict[str, str]:
        return {"continuous_refresh": "true"} if self._settings.continuous_refresh else {}

    async def _user_account(self, tokens: TokenSet) -> dict[str, Any]:
        return await self._http.call(
            "GET", f"{self._settings.api_base}/v5/user_account", headers=bearer(tokens.access_token)
        )

    async def fetch_profile(self, tokens: TokenSet) -> Profile:
        body = await self._user_account(tokens)
        username = optional_str(body, "username")
        return Profile(
            platform_account_id=optional_str(body, "id")
            or require_str(self.platform, body, "username"),
            username=username,
            display_name=optional_str(body, "business_name") or username,
            avatar_url=optional_str(body, "profile_image"),
        )

    async def _who_am_i(self, tokens: TokenSet) -> None:
        await self._user_account(tokens)
