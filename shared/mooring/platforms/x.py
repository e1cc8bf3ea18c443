"""X (Twitter) OAuth 2.0 with PKCE: a confidential client (Basic auth), 2 h access tokens and
single-use refresh tokens (docs/platforms.md, X)."""

from __future__ import annotations

from mooring.platforms import descriptions
from mooring.platforms.http import bearer, malformed, optional_str, require_str
from mooring.platforms.oauth_adapter import OAuthAdapter
from mooring.platforms.results import Profile, TokenSet
from mooring.platforms.settings import XSettings
from mooring.platforms.signals import ErrorSignals, oauth_signals, x_signals

__all__ = ["XAdapter"]


class XAdapter(OAuthAdapter[XSettings]):
    DESCRIPTION = descriptions.X
    SIGNALS = ErrorSignals(api=oauth_signals, token=x_signals)
    CLIENT_AUTH = "client_secret_basic"

    def authorize_url(self) -> str:
        return f"{self._settings.auth_base}/i/oauth2/authorize"

    def token_url(self) -> str:
        return f"{self._settings.api_base}/2/oauth2/token"

    async def fetch_profile(self, tokens: TokenSet) -> Profile:
        body = await self._http.call(
            "GET",
            f"{self._settings.api_base}/2/users/me",
            params={"user.fields": "profile_image_url"},
            headers=bearer(tokens.access_token),
        )
        data = body.get("data")
        if not isinstance(data, dict):
            raise malformed(self.platform, "missing 'data'")
        return Profile(
            platform_account_id=require_str(self.platform, data, "id"),
            username=optional_str(data, "username"),
            display_name=optional_str(data, "name"),
            avatar_url=optional_str(data, "profile_image_url"),
        )

    async def _who_am_i(self, tokens: TokenSet) -> None:
        await self._http.call(
            "GET", f"{self._settings.api_base}/2/users/me", headers=bearer(tokens.access_token)
        )
