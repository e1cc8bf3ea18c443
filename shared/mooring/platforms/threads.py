"""Threads: Meta's login with its own app id/secret and graph.threads.net; a long-lived token
extended in place (docs/platforms.md, Threads)."""

from __future__ import annotations

from mooring.platforms import descriptions
from mooring.platforms.http import optional_str, require_str
from mooring.platforms.meta_login import MetaLoginAdapter
from mooring.platforms.results import Profile, TokenSet
from mooring.platforms.settings import ThreadsSettings

__all__ = ["ThreadsAdapter"]


class ThreadsAdapter(MetaLoginAdapter[ThreadsSettings]):
    DESCRIPTION = descriptions.THREADS
    EXCHANGE_GRANT = "th_exchange_token"
    REFRESH_GRANT = "th_refresh_token"

    def token_url(self) -> str:
        return f"{self._settings.graph_base}/oauth/access_token"

    async def fetch_profile(self, tokens: TokenSet) -> Profile:
        body = await self._me(tokens, "id,username,name,threads_profile_picture_url")
        return Profile(
            platform_account_id=require_str(self.platform, body, "id"),
            username=optional_str(body, "username"),
            display_name=optional_str(body, "name"),
            avatar_url=optional_str(body, "threads_profile_picture_url"),
        )

    async def _who_am_i(self, tokens: TokenSet) -> None:
        await self._me(tokens, "id,username")
