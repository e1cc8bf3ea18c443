"""OAuth 2 plumbing shared by the adapters: Authlib's `AsyncOAuth2Client` over the injected client.

`AsyncOAuth2Client` is itself an `httpx.AsyncClient`. Rather than let it open its own connection
pool (bypassing the caller's client, its limits and the `MockTransport` fakes in tests), it gets a
transport that hands every request to the injected client. Its compliance hooks classify every
token-endpoint answer before Authlib parses it, so Authlib only ever sees successes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, TypeAlias

import httpx
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import AsyncOAuth2Client
from pydantic import SecretStr

from mooring.platforms.classify import classify_transport_error
from mooring.platforms.exceptions import PlatformError, error_for
from mooring.platforms.http import PlatformHttp, malformed, optional_str, require_str
from mooring.platforms.results import TokenSet

__all__ = [
    "OAuthApp",
    "authorization_url",
    "exchange_code",
    "new_code_verifier",
    "refresh_grant",
    "token_set_from",
]

ClientAuthMethod: TypeAlias = Literal["client_secret_post", "client_secret_basic"]


class _ThroughInjectedClient(httpx.AsyncBaseTransport):
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._client.send(request, stream=True, follow_redirects=False)

    async def aclose(self) -> None:
        # The injected client belongs to the caller; closing Authlib's wrapper must not close it.
        return None


class OAuthApp:
    """Our client registration at one platform, and how the token endpoint authenticates it."""

    __slots__ = ("auth_method", "client_id", "client_secret")

    def __init__(
        self,
        client_id: str,
        client_secret: SecretStr,
        auth_method: ClientAuthMethod = "client_secret_post",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.auth_method = auth_method

    def __repr__(self) -> str:
        return f"OAuthApp(client_id={self.client_id!r}, auth_method={self.auth_method!r})"


def new_code_verifier() -> SecretStr:
    # 64 characters from the RFC 7636 unreserved set (43..128 allowed).
    return SecretStr(generate_token(64))


def _client(http: PlatformHttp, app: OAuthApp, *, pkce: bool) -> Any:
    client = AsyncOAuth2Client(
        client_id=app.client_id,
        client_secret=app.client_secret.get_secret_value(),
        token_endpoint_auth_method=app.auth_method,
        code_challenge_method="S256" if pkce else None,
        transport=_ThroughInjectedClient(http.client),
        timeout=http.timeout,
        trust_env=False,  # env proxies would mount their own transports around ours
        follow_redirects=False,
    )

    def classify_first(response: httpx.Response) -> httpx.Response:
        http.raise_for_outcome(response)
        return response

    client.register_compliance_hook("access_token_response", classify_first)
    client.register_compliance_hook("refresh_token_response", classify_first)
    return client


def authorization_url(
    app: OAuthApp,
    authorize_url: str,
    *,
    redirect_uri: str,
    state: str,
    scope: str,
    code_verifier: SecretStr | None,
    extra: Mapping[str, str] | None = None,
) -> str:
    client = AsyncOAuth2Client(
        client_id=app.client_id,
        code_challenge_method="S256" if code_verifier is not None else None,
        trust_env=False,
    )
    url, _ = client.create_authorization_url(
        authorize_url,
        state=state,
        code_verifier=code_verifier.get_secret_value() if code_verifier is not None else None,
        redirect_uri=redirect_uri,
        scope=scope,
        **dict(extra or {}),
    )
    return str(url)


async def _token_call(http: PlatformHttp, call: Any) -> dict[str, Any]:
    try:
        token = await call
    except PlatformError:
        raise
    except httpx.HTTPError as error:
        raise error_for(http.platform, classify_transport_error(error)) from None
    except (ValueError, KeyError) as error:
        raise malformed(http.platform, type(error).__name__) from None
    return dict(token)


async def exchange_code(
    http: PlatformHttp,
    app: OAuthApp,
    token_url: str,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: SecretStr | None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    params = dict(extra or {})
    if code_verifier is not None:
        params["code_verifier"] = code_verifier.get_secret_value()
    async with _client(http, app, pkce=code_verifier is not None) as client:
        return await _token_call(
            http,
            client.fetch_token(
                token_url,
                grant_type="authorization_code",
                code=code,
                redirect_uri=redirect_uri,
                **params,
            ),
        )


async def refresh_grant(
    http: PlatformHttp,
    app: OAuthApp,
    token_url: str,
    *,
    refresh_token: SecretStr,
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    async with _client(http, app, pkce=False) as client:
        return await _token_call(
            http,
            client.refresh_token(
                token_url, refresh_token=refresh_token.get_secret_value(), **dict(extra or {})
            ),
        )


def _seconds(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def token_set_from(
    body: Mapping[str, Any],
    *,
    platform: str,
    now: datetime,
    previous: TokenSet | None = None,
    service_url: str | None = None,
    access_key: str = "access_token",
    refresh_key: str = "refresh_token",
) -> TokenSet:
    """A `TokenSet` from one token response: expiry from this response's `expires_in`, and the
    previous refresh token kept when the response carries none (never overwritten by empty)."""
    access = require_str(platform, body, access_key)
    new_refresh = optional_str(body, refresh_key)
    expires_in = _seconds(body.get("expires_in"))
    refresh_expires_in = _seconds(
        body.get("refresh_token_expires_in", body.get("refresh_expires_in"))
    )
    if new_refresh is not None:
        refresh_token: SecretStr | None = SecretStr(new_refresh)
        refresh_expires_at = (
            now + timedelta(seconds=refresh_expires_in) if refresh_expires_in is not None else None
        )
    else:
        refresh_token = previous.refresh_token if previous else None
        refresh_expires_at = previous.refresh_expires_at if previous else None
    raw_scope = body.get("scope")
    scopes: tuple[str, ...] = previous.scopes if previous else ()
    if isinstance(raw_scope, str) and raw_scope:
        scopes = tuple(part for part in raw_scope.replace(",", " ").split() if part)
    return TokenSet(
        access_token=SecretStr(access),
        refresh_token=refresh_token,
        issued_at=now,
        expires_at=now + timedelta(seconds=expires_in) if expires_in else None,
        refresh_expires_at=refresh_expires_at,
        scopes=scopes,
        service_url=service_url or (previous.service_url if previous else None),
    )
