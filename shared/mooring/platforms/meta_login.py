"""Instagram Login and Threads share one shape: an Authlib code exchange for a 1-hour token,
an upgrade to a 60-day token (`ig_exchange_token` / `th_exchange_token`), and an extension in
place once that token is at least 24 h old and not expired (docs/platforms.md, Instagram and
Threads).

The upgrade and the extension are plain httpx: both are GETs with Meta-specific grant types and
the token in the query, outside what Authlib's client models.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from pydantic import SecretStr

from mooring.platforms import oauth
from mooring.platforms.http import bearer
from mooring.platforms.oauth_adapter import OAuthAdapter, OAuthClientSettings
from mooring.platforms.results import TokenSet
from mooring.platforms.signals import ErrorSignals, meta_signals

__all__ = ["MetaLoginAdapter", "MetaLoginSettings"]


class MetaLoginSettings(OAuthClientSettings, Protocol):
    @property
    def auth_base(self) -> str: ...

    @property
    def graph_base(self) -> str: ...

    @property
    def graph_version(self) -> str: ...


MetaSettingsT = TypeVar("MetaSettingsT", bound=MetaLoginSettings)


class MetaLoginAdapter(OAuthAdapter[MetaSettingsT]):
    """Subclasses name the grant types and the token endpoint, which is on a different host for
    Instagram (api.instagram.com) than for Threads (graph.threads.net)."""

    SIGNALS = ErrorSignals(api=meta_signals, token=meta_signals)
    SCOPE_SEPARATOR = ","
    EXCHANGE_GRANT: str
    REFRESH_GRANT: str

    def authorize_url(self) -> str:
        return f"{self._settings.auth_base}/oauth/authorize"

    async def _me(self, tokens: TokenSet, fields: str) -> dict[str, Any]:
        return await self._http.call(
            "GET",
            f"{self._settings.graph_base}/{self._settings.graph_version}/me",
            params={"fields": fields},
            headers=bearer(tokens.access_token),
        )

    async def exchange_code(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: SecretStr | None = None,
        service_url: str | None = None,  # noqa: ARG002
    ) -> TokenSet:
        short = await self._code_grant(
            code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
        body = await self._http.call(
            "GET",
            f"{self._settings.graph_base}/access_token",
            params={
                "grant_type": self.EXCHANGE_GRANT,
                "client_id": self._app.client_id,
                "client_secret": self._app.client_secret.get_secret_value(),
                "access_token": str(short.get("access_token", "")),
            },
        )
        return oauth.token_set_from(body, platform=self.platform, now=self.now())

    async def refresh(self, tokens: TokenSet) -> TokenSet:
        """Extend the long-lived token; refused locally before 24 h or after expiry."""
        self._check_extendable(tokens)
        body = await self._http.call(
            "GET",
            f"{self._settings.graph_base}/refresh_access_token",
            params={
                "grant_type": self.REFRESH_GRANT,
                "access_token": tokens.access_token.get_secret_value(),
            },
        )
        return oauth.token_set_from(body, platform=self.platform, now=self.now(), previous=tokens)
