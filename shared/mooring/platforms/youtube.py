"""YouTube through Google OAuth: offline access for a refresh token that does not rotate (keep
it when a refresh answers without one), and a channel to pick (docs/platforms.md, YouTube)."""

from __future__ import annotations

from typing import Any

from mooring.platforms import descriptions
from mooring.platforms.descriptions import AccountType
from mooring.platforms.exceptions import PolicyError
from mooring.platforms.http import bearer, optional_str, require_str
from mooring.platforms.oauth_adapter import OAuthAdapter
from mooring.platforms.outcomes import Classification
from mooring.platforms.results import Candidate, Profile, TokenSet
from mooring.platforms.settings import YouTubeSettings
from mooring.platforms.signals import ErrorSignals, google_signals

__all__ = ["YouTubeAdapter"]


class YouTubeAdapter(OAuthAdapter[YouTubeSettings]):
    DESCRIPTION = descriptions.YOUTUBE
    SIGNALS = ErrorSignals(api=google_signals, token=google_signals)

    def authorize_url(self) -> str:
        return f"{self._settings.auth_base}/o/oauth2/v2/auth"

    def token_url(self) -> str:
        return f"{self._settings.token_base}/token"

    def authorize_extra(self) -> dict[str, str]:
        # offline: a refresh token at all; consent: a new one even on a repeat grant.
        return {"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"}

    async def _channels(self, tokens: TokenSet, part: str) -> list[dict[str, Any]]:
        body = await self._http.call(
            "GET",
            f"{self._settings.api_base}/youtube/v3/channels",
            params={"part": part, "mine": "true"},
            headers=bearer(tokens.access_token),
        )
        items = body.get("items")
        return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []

    async def list_candidates(self, tokens: TokenSet) -> tuple[Candidate, ...]:
        candidates = []
        for item in await self._channels(tokens, "id,snippet"):
            raw_snippet = item.get("snippet")
            snippet: dict[str, Any] = raw_snippet if isinstance(raw_snippet, dict) else {}
            thumbnails = snippet.get("thumbnails")
            default = thumbnails.get("default") if isinstance(thumbnails, dict) else None
            candidates.append(
                Candidate(
                    id=require_str(self.platform, item, "id"),
                    account_type=AccountType.CHANNEL,
                    name=optional_str(snippet, "title"),
                    username=optional_str(snippet, "customUrl"),
                    avatar_url=optional_str(default, "url") if isinstance(default, dict) else None,
                )
            )
        return tuple(candidates)

    async def fetch_profile(self, tokens: TokenSet) -> Profile:
        """The first channel of the grant; with several, the caller picks among candidates."""
        candidates = await self.list_candidates(tokens)
        if not candidates:
            raise PolicyError(
                self.platform, Classification.policy("no_channel", detail="no YouTube channel")
            )
        return candidates[0].profile()

    async def _who_am_i(self, tokens: TokenSet) -> None:
        await self._channels(tokens, "id")
