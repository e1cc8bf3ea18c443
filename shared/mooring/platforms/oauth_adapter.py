"""The common shape of a standard OAuth 2 adapter: authorize URL, code exchange, refresh grant.

Subclasses name their endpoints and token-endpoint client authentication; platforms whose
protocol departs from RFC 6749 override the steps that differ (Instagram and Threads extend a
long-lived token instead of a refresh grant, `MetaLoginAdapter`). TikTok's `client_key`,
Facebook's GET token endpoint and Mastodon's per-instance hosts do not fit at all and build on
`BaseAdapter` directly.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar

import httpx
from pydantic import SecretStr

from mooring.platforms import oauth
from mooring.platforms.base import BaseAdapter
from mooring.platforms.classify import utc_now
from mooring.platforms.http import Clock
from mooring.platforms.oauth import ClientAuthMethod, OAuthApp
from mooring.platforms.results import AuthorizationRequest, TokenSet

__all__ = ["OAuthAdapter", "OAuthClientSettings"]


class OAuthClientSettings(Protocol):
    """Who we are to the platform; each platform's settings add its hosts."""

    @property
    def client_id(self) -> str: ...

    @property
    def client_secret(self) -> SecretStr: ...


SettingsT = TypeVar("SettingsT", bound=OAuthClientSettings)


class OAuthAdapter(BaseAdapter, Generic[SettingsT]):
    CLIENT_AUTH: ClientAuthMethod = "client_secret_post"
    SCOPE_SEPARATOR = " "

    def __init__(
        self,
        settings: SettingsT,
        *,
        http_client: httpx.AsyncClient,
        timeout: httpx.Timeout,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(http_client=http_client, timeout=timeout, clock=clock)
        self._settings = settings
        self._app = OAuthApp(settings.client_id, settings.client_secret, self.CLIENT_AUTH)
        self._token_http = self._http.with_signals(self.SIGNALS.token)

    # Endpoints -------------------------------------------------------------------------------

    def authorize_url(self) -> str:
        raise NotImplementedError

    def token_url(self) -> str:
        raise NotImplementedError

    def authorize_extra(self) -> dict[str, str]:
        return {}

    def refresh_extra(self) -> dict[str, str]:
        return {}

    # Steps -----------------------------------------------------------------------------------

    @property
    def scope(self) -> str:
        return self.SCOPE_SEPARATOR.join(self.DESCRIPTION.scopes)

    async def start_authorization(
        self,
        *,
        redirect_uri: str,
        state: str,
        instance_url: str | None = None,  # noqa: ARG002 - only Mastodon has instances
    ) -> AuthorizationRequest:
        verifier = oauth.new_code_verifier() if self.DESCRIPTION.pkce else None
        url = oauth.authorization_url(
            self._app,
            self.authorize_url(),
            redirect_uri=redirect_uri,
            state=state,
            scope=self.scope,
            code_verifier=verifier,
            extra=self.authorize_extra(),
        )
        return AuthorizationRequest(url=url, state=state, code_verifier=verifier)

    async def exchange_code(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: SecretStr | None = None,
        service_url: str | None = None,  # noqa: ARG002 - only Mastodon has instances
    ) -> TokenSet:
        body = await self._code_grant(
            code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
        return oauth.token_set_from(body, platform=self.platform, now=self.now())

    async def _code_grant(
        self, *, code: str, redirect_uri: str, code_verifier: SecretStr | None
    ) -> dict[str, Any]:
        """The token endpoint's raw answer to the authorization code."""
        return await oauth.exchange_code(
            self._token_http,
            self._app,
            self.token_url(),
            code=clean_code(code),
            redirect_uri=redirect_uri,
            code_verifier=code_verifier,
        )

    async def refresh(self, tokens: TokenSet) -> TokenSet:
        """The RFC 6749 refresh grant. It serves rotating and non-rotating refresh tokens alike,
        because `token_set_from` keeps the previous refresh token when the answer has none."""
        self._require_refresh_token(tokens)
        assert tokens.refresh_token is not None  # noqa: S101 - checked just above
        body = await oauth.refresh_grant(
            self._token_http,
            self._app,
            self.token_url(),
            refresh_token=tokens.refresh_token,
            extra=self.refresh_extra(),
        )
        return oauth.token_set_from(body, platform=self.platform, now=self.now(), previous=tokens)


def clean_code(code: str) -> str:
    # Meta appends `#_` to the redirect (Instagram, Threads); it is not part of the code.
    return code.removesuffix("#_")
