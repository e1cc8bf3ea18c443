"""OAuth 2 plumbing shared by the adapters: Authlib's pure helpers, the injected client's HTTP.

Authlib builds the authorization URL (`prepare_grant_uri`, `create_s256_code_challenge`), the
token request body (`prepare_token_request`) and the client authentication (`ClientAuth`:
client_secret_post or client_secret_basic). The request itself goes through `PlatformHttp`, so
it uses the process's one client (its pool, limits and retry policy; `MockTransport` in tests)
and never an Authlib client of its own: one per call would be a new pool and SSL context each
time. Every token-endpoint answer is classified before it is read, so only successes are parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, TypeAlias

from authlib.common.security import generate_token
from authlib.common.urls import url_decode
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from pydantic import SecretStr

from mooring.platforms.exceptions import PolicyError
from mooring.platforms.http import PlatformHttp, optional_str, require_str
from mooring.platforms.outcomes import Classification
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

# What Authlib's client sent to every token endpoint.
_TOKEN_HEADERS = {
    "Accept": "application/json",
    "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
}
_MAX_DETAIL = 160


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
    params: dict[str, str] = dict(extra or {})
    if code_verifier is not None:
        params["code_challenge"] = create_s256_code_challenge(code_verifier.get_secret_value())
        params["code_challenge_method"] = "S256"
    return str(
        prepare_grant_uri(
            authorize_url,
            client_id=app.client_id,
            response_type="code",
            redirect_uri=redirect_uri,
            scope=scope,
            state=state,
            **params,
        )
    )


async def _token_call(
    http: PlatformHttp, app: OAuthApp, token_url: str, grant_type: str, **fields: Any
) -> dict[str, Any]:
    """POST one grant to the token endpoint, authenticated as `app`; the answer, classified."""
    body = prepare_token_request(grant_type, "", **fields)
    auth = ClientAuth(app.client_id, app.client_secret.get_secret_value(), app.auth_method)
    url, headers, body = auth.prepare("POST", token_url, dict(_TOKEN_HEADERS), body)
    response = await http.send("POST", url, data=dict(url_decode(body)), headers=headers)
    token = http.body(response)
    if "error" in token:
        # A success status with an error the platform's signals do not know: not a token, and
        # nothing says it is dead (Authlib raised its own OAuthError here).
        code = str(token.get("error"))[:_MAX_DETAIL]
        raise PolicyError(http.platform, Classification.policy("token_error", detail=code))
    return token


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
    return await _token_call(
        http,
        app,
        token_url,
        "authorization_code",
        code=code,
        redirect_uri=redirect_uri,
        **params,
    )


async def refresh_grant(
    http: PlatformHttp,
    app: OAuthApp,
    token_url: str,
    *,
    refresh_token: SecretStr,
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The refresh grant's raw answer. A refresh token absent from it stays absent: the caller
    (`token_set_from`) keeps the previous one, with its expiry."""
    return await _token_call(
        http,
        app,
        token_url,
        "refresh_token",
        refresh_token=refresh_token.get_secret_value(),
        **dict(extra or {}),
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
