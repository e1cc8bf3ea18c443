"""Facebook Pages and Instagram via Facebook Business: Facebook Login and the Graph API.

The code exchange is plain httpx, not Authlib: Graph's token endpoint is a GET with the client
secret in the query, and Authlib's client authentication writes it into a request body. The
short-lived user token is upgraded at once (`fb_exchange_token`, ~60 days), because page tokens
derived from a long-lived user token do not expire while those from a short-lived one die within
the hour. There is no refresh: Graph issues no refresh token, so the user re-authorizes.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from mooring.platforms import descriptions, oauth
from mooring.platforms.base import BaseAdapter
from mooring.platforms.classify import utc_now
from mooring.platforms.descriptions import AccountType
from mooring.platforms.http import Clock, bearer, optional_str, require_str
from mooring.platforms.oauth_adapter import clean_code
from mooring.platforms.results import AuthorizationRequest, Candidate, Profile, TokenSet
from mooring.platforms.settings import MetaSettings
from mooring.platforms.signals import ErrorSignals, meta_signals

__all__ = ["FacebookAdapter", "InstagramFacebookAdapter"]

_MAX_PAGES_OF_RESULTS = 20


def _picture_url(node: dict[str, Any]) -> str | None:
    picture = node.get("picture")
    data = picture.get("data") if isinstance(picture, dict) else None
    return optional_str(data, "url") if isinstance(data, dict) else None


class FacebookAdapter(BaseAdapter):
    DESCRIPTION = descriptions.FACEBOOK
    SIGNALS = ErrorSignals(api=meta_signals, token=meta_signals)
    PAGE_FIELDS = "id,name,username,picture{url},access_token"

    def __init__(
        self,
        settings: MetaSettings,
        *,
        http_client: httpx.AsyncClient,
        timeout: httpx.Timeout,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(http_client=http_client, timeout=timeout, clock=clock)
        self._settings = settings
        self._app = oauth.OAuthApp(settings.client_id, settings.client_secret)

    def _graph(self, path: str) -> str:
        return f"{self._settings.graph_base}/{self._settings.graph_version}/{path.lstrip('/')}"

    async def start_authorization(
        self,
        *,
        redirect_uri: str,
        state: str,
        instance_url: str | None = None,  # noqa: ARG002
    ) -> AuthorizationRequest:
        url = oauth.authorization_url(
            self._app,
            f"{self._settings.dialog_base}/{self._settings.graph_version}/dialog/oauth",
            redirect_uri=redirect_uri,
            state=state,
            scope=",".join(self.DESCRIPTION.scopes),
            code_verifier=None,
        )
        return AuthorizationRequest(url=url, state=state)

    async def exchange_code(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: SecretStr | None = None,  # noqa: ARG002
        service_url: str | None = None,  # noqa: ARG002
    ) -> TokenSet:
        secret = self._settings.client_secret.get_secret_value()
        short = await self._http.call(
            "GET",
            self._graph("oauth/access_token"),
            params={
                "client_id": self._settings.client_id,
                "client_secret": secret,
                "redirect_uri": redirect_uri,
                "code": clean_code(code),
            },
            # A GET, but it spends a single-use code: never sent twice.
            idempotent=False,
        )
        long_lived = await self._http.call(
            "GET",
            self._graph("oauth/access_token"),
            params={
                "grant_type": "fb_exchange_token",
                "client_id": self._settings.client_id,
                "client_secret": secret,
                "fb_exchange_token": require_str(self.platform, short, "access_token"),
            },
        )
        return oauth.token_set_from(long_lived, platform=self.platform, now=self.now())

    async def _get(self, tokens: TokenSet, path: str, fields: str) -> dict[str, Any]:
        return await self._http.call(
            "GET", self._graph(path), params={"fields": fields}, headers=bearer(tokens.access_token)
        )

    async def fetch_profile(self, tokens: TokenSet) -> Profile:
        body = await self._get(tokens, "me", "id,name,picture{url}")
        return Profile(
            platform_account_id=require_str(self.platform, body, "id"),
            display_name=optional_str(body, "name"),
            avatar_url=_picture_url(body),
        )

    async def _pages(self, tokens: TokenSet, fields: str) -> list[dict[str, Any]]:
        pages: list[dict[str, Any]] = []
        body = await self._get(tokens, "me/accounts", fields)
        for _ in range(_MAX_PAGES_OF_RESULTS):
            data = body.get("data")
            if isinstance(data, list):
                pages.extend(item for item in data if isinstance(item, dict))
            paging = body.get("paging")
            cursors = paging.get("cursors") if isinstance(paging, dict) else None
            after = optional_str(cursors, "after") if isinstance(cursors, dict) else None
            if not (isinstance(paging, dict) and paging.get("next") and after):
                break
            body = await self._http.call(
                "GET",
                self._graph("me/accounts"),
                params={"fields": fields, "after": after},
                headers=bearer(tokens.access_token),
            )
        return pages

    def _page_tokens(self, page: dict[str, Any]) -> TokenSet | None:
        token = optional_str(page, "access_token")
        if token is None:
            return None
        # Derived from the long-lived user token, a page token has no expiration date.
        return TokenSet(access_token=SecretStr(token), issued_at=self.now())

    async def list_candidates(self, tokens: TokenSet) -> tuple[Candidate, ...]:
        return tuple(
            Candidate(
                id=require_str(self.platform, page, "id"),
                account_type=AccountType.PAGE,
                name=optional_str(page, "name"),
                username=optional_str(page, "username"),
                avatar_url=_picture_url(page),
                tokens=self._page_tokens(page),
            )
            for page in await self._pages(tokens, self.PAGE_FIELDS)
        )

    async def _who_am_i(self, tokens: TokenSet) -> None:
        await self._get(tokens, "me", "id")


class InstagramFacebookAdapter(FacebookAdapter):
    """Instagram professional accounts linked to a Facebook page; each publishes with the page's
    token, on graph.facebook.com (graph.instagram.com would call these tokens expired)."""

    DESCRIPTION = descriptions.INSTAGRAM_FACEBOOK
    PAGE_FIELDS = "id,name,access_token,instagram_business_account"

    async def list_candidates(self, tokens: TokenSet) -> tuple[Candidate, ...]:
        candidates = []
        for page in await self._pages(tokens, self.PAGE_FIELDS):
            linked = page.get("instagram_business_account")
            page_tokens = self._page_tokens(page)
            if not isinstance(linked, dict) or page_tokens is None:
                continue
            ig_id = require_str(self.platform, linked, "id")
            node = await self._get(page_tokens, ig_id, "id,username,name,profile_picture_url")
            candidates.append(
                Candidate(
                    id=ig_id,
                    account_type=AccountType.BUSINESS,
                    name=optional_str(node, "name"),
                    username=optional_str(node, "username"),
                    avatar_url=optional_str(node, "profile_picture_url"),
                    tokens=page_tokens,
                    parent_id=require_str(self.platform, page, "id"),
                )
            )
        return tuple(candidates)
