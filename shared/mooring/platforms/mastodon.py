"""Mastodon: the user names an instance; we validate it (SSRF guard), register an app there once
(cached in a `MastodonAppStore`), then run OAuth with PKCE on that instance. Tokens never expire.

Plain httpx through the guard rather than Authlib: every request to a user-named host must be
checked, pinned to the checked address and have its redirects followed hop by hop, which
Authlib's own request path does not do.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from mooring.platforms import descriptions, oauth
from mooring.platforms.base import BaseAdapter
from mooring.platforms.classify import utc_now
from mooring.platforms.exceptions import InvalidInputError, PlatformError
from mooring.platforms.http import Clock, bearer, optional_str, require_str
from mooring.platforms.mastodon_apps import InMemoryMastodonAppStore, MastodonApp, MastodonAppStore
from mooring.platforms.public_url import HostResolver, UrlGuard
from mooring.platforms.results import AuthorizationRequest, Profile, TokenSet
from mooring.platforms.settings import MastodonSettings
from mooring.platforms.signals import ErrorSignals, mastodon_signals

__all__ = ["MastodonAdapter"]


class MastodonAdapter(BaseAdapter):
    DESCRIPTION = descriptions.MASTODON
    SIGNALS = ErrorSignals(api=mastodon_signals, token=mastodon_signals)

    def __init__(
        self,
        settings: MastodonSettings,
        *,
        http_client: httpx.AsyncClient,
        timeout: httpx.Timeout,
        clock: Clock = utc_now,
        apps: MastodonAppStore | None = None,
        resolver: HostResolver | None = None,
    ) -> None:
        super().__init__(http_client=http_client, timeout=timeout, clock=clock)
        self._settings = settings
        # Services pass the SQL store; the in-memory default only lives as long as this adapter.
        self._apps: MastodonAppStore = apps if apps is not None else InMemoryMastodonAppStore()
        self._guard = UrlGuard(
            platform=self.platform, allowed_hosts=settings.allowed_hosts, resolver=resolver
        )

    async def normalise_instance(self, instance_url: str) -> str:
        """The instance's base URL (scheme, host, optional path prefix), checked by the guard."""
        target = await self._guard.check(instance_url)
        url = target.url
        if url.query or url.fragment:
            raise InvalidInputError(
                self.platform, "invalid_url", "an instance URL has no query or fragment"
            )
        return str(url.copy_with(path=url.path.rstrip("/") or "/")).rstrip("/")

    async def _call(
        self,
        method: str,
        url: str,
        *,
        data: dict[str, str] | None = None,
        token: SecretStr | None = None,
    ) -> dict[str, Any]:
        response = await self._guard.request(
            self._http,
            method,
            url,
            data=data,
            headers=bearer(token) if token is not None else None,
            max_redirects=self._settings.max_redirects,
        )
        return self._http.body(response)

    async def _register(self, instance: str, redirect_uri: str) -> MastodonApp:
        form = {
            "client_name": self._settings.client_name,
            "redirect_uris": redirect_uri,
            "scopes": " ".join(self.DESCRIPTION.scopes),
        }
        if self._settings.website:
            form["website"] = self._settings.website
        body = await self._call("POST", f"{instance}/api/v1/apps", data=form)
        registered = MastodonApp(
            client_id=require_str(self.platform, body, "client_id"),
            client_secret=SecretStr(require_str(self.platform, body, "client_secret")),
        )
        return await self._apps.put(instance, registered)

    async def _still_registered(self, instance: str, app: MastodonApp) -> bool:
        """Whether the instance still knows a cached app (before 4.3 unused apps are vacuumed).

        A vacuumed app would fail at the authorize page, before any callback could tell us, so
        the client is checked first: the token endpoint answers `invalid_client` for an unknown
        one. An app token it may issue for the probe is revoked straight away.
        """
        form = {
            "grant_type": "client_credentials",
            "client_id": app.client_id,
            "client_secret": app.client_secret.get_secret_value(),
            "scope": "read",
        }
        response = await self._guard.request(
            self._http, "POST", f"{instance}/oauth/token", data=form, max_redirects=0
        )
        verdict = self._http.classify(response)
        if verdict.reason == "invalid_client":
            return False
        if verdict.is_ok:
            issued = optional_str(self._http.body(response), "access_token")
            if issued is not None:
                revoke = {**form, "token": issued}
                del revoke["grant_type"], revoke["scope"]
                await self._guard.request(
                    self._http, "POST", f"{instance}/oauth/revoke", data=revoke, max_redirects=0
                )
        return True

    async def start_authorization(
        self, *, redirect_uri: str, state: str, instance_url: str | None = None
    ) -> AuthorizationRequest:
        if not instance_url:
            raise InvalidInputError(self.platform, "instance_required", "name a Mastodon instance")
        instance = await self.normalise_instance(instance_url)
        app = await self._apps.get(instance)
        if app is not None and not await self._still_registered(instance, app):
            await self._apps.forget(instance)
            app = None
        if app is None:
            app = await self._register(instance, redirect_uri)
        verifier = oauth.new_code_verifier()
        url = oauth.authorization_url(
            oauth.OAuthApp(app.client_id, app.client_secret),
            f"{instance}/oauth/authorize",
            redirect_uri=redirect_uri,
            state=state,
            scope=" ".join(self.DESCRIPTION.scopes),
            code_verifier=verifier,
        )
        return AuthorizationRequest(
            url=url, state=state, code_verifier=verifier, service_url=instance
        )

    async def exchange_code(
        self,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: SecretStr | None = None,
        service_url: str | None = None,
    ) -> TokenSet:
        if not service_url:
            raise InvalidInputError(self.platform, "instance_required", "the instance is missing")
        instance = await self.normalise_instance(service_url)
        app = await self._apps.get(instance)
        if app is None:
            raise InvalidInputError(
                self.platform, "unknown_instance", "no app is registered on this instance"
            )
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app.client_id,
            "client_secret": app.client_secret.get_secret_value(),
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.DESCRIPTION.scopes),
        }
        if code_verifier is not None:
            form["code_verifier"] = code_verifier.get_secret_value()
        try:
            body = await self._call("POST", f"{instance}/oauth/token", data=form)
        except PlatformError as error:
            if error.classification.reason == "invalid_client":
                # Instances before 4.3 vacuum unused apps: register afresh on the next connect.
                await self._apps.forget(instance)
            raise
        return oauth.token_set_from(
            body, platform=self.platform, now=self.now(), service_url=instance
        )

    async def _verify_credentials(self, tokens: TokenSet) -> dict[str, Any]:
        if not tokens.service_url:
            raise InvalidInputError(self.platform, "instance_required", "the instance is missing")
        return await self._call(
            "GET",
            f"{tokens.service_url}/api/v1/accounts/verify_credentials",
            token=tokens.access_token,
        )

    async def fetch_profile(self, tokens: TokenSet) -> Profile:
        body = await self._verify_credentials(tokens)
        return Profile(
            platform_account_id=require_str(self.platform, body, "id"),
            username=optional_str(body, "acct") or optional_str(body, "username"),
            display_name=optional_str(body, "display_name"),
            avatar_url=optional_str(body, "avatar"),
        )

    async def _who_am_i(self, tokens: TokenSet) -> None:
        await self._verify_credentials(tokens)
