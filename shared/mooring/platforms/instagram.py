"""Instagram API with Instagram Login (professional accounts, no Facebook page): three hosts,
a long-lived token extended in place (platforms.md §3.5)."""

from __future__ import annotations

from typing import Any

import httpx

from mooring.platforms import descriptions
from mooring.platforms.classify import utc_now
from mooring.platforms.http import Clock, bearer, optional_str, require_str
from mooring.platforms.meta_login import MetaLoginAdapter
from mooring.platforms.results import Profile, TokenSet
from mooring.platforms.settings import InstagramSettings

__all__ = ["InstagramAdapter"]


class InstagramAdapter(MetaLoginAdapter):
    DESCRIPTION = descriptions.INSTAGRAM
    EXCHANGE_GRANT = "ig_exchange_token"
    REFRESH_GRANT = "ig_refresh_token"

    def __init__(
        self,
        settings: InstagramSettings,
        *,
        http_client: httpx.AsyncClient,
        timeout: httpx.Timeout,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            http_client=http_client,
            timeout=timeout,
            clock=clock,
        )
        self._settings = settings

    def authorize_url(self) -> str:
        return f"{self._settings.auth_base}/oauth/authorize"

    def token_url(self) -> str:
        return f"{self._settings.token_base}/oauth/access_token"

    def graph_base(self) -> str:
        return self._settings.graph_base

    async def _me(self, tokens: TokenSet, fields: str) -> dict[str, Any]:
        return await self._http.call(
            "GET",
            f"{self._settings.graph_base}/{self._settings.graph_version}/me",
            params={"fields": fields},
            headers=bearer(tokens.access_token),
        )

    async def fetch_profile(self, tokens: TokenSet) -> Profile:
        body = await self._me(tokens, "user_id,username,name,profile_picture_url")
        return Profile(
            platform_account_id=optional_str(body, "user_id")
            or require_str(self.platform, body, "id"),
            username=optional_str(body, "username"),
            display_name=optional_str(body, "name"),
            avatar_url=optional_str(body, "profile_picture_url"),
        )

    async def _who_am_i(self, tokens: TokenSet) -> None:
        await self._me(tokens, "user_id,username")
