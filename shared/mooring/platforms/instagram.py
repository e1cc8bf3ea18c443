"""Instagram API with Instagram Login (professional accounts, no Facebook page): three hosts,
a long-lived token (60 days) extended in place: `ig_refresh_token` returns a new expiry for
the same kind of token, with no separate refresh token."""

from __future__ import annotations

from mooring.platforms import descriptions
from mooring.platforms.http import optional_str, require_str
from mooring.platforms.meta_login import MetaLoginAdapter
from mooring.platforms.results import Profile, TokenSet
from mooring.platforms.settings import InstagramSettings

__all__ = ["InstagramAdapter"]


class InstagramAdapter(MetaLoginAdapter[InstagramSettings]):
    DESCRIPTION = descriptions.INSTAGRAM
    EXCHANGE_GRANT = "ig_exchange_token"
    REFRESH_GRANT = "ig_refresh_token"

    def token_url(self) -> str:
        return f"{self._settings.token_base}/oauth/access_token"

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
