"""The one way adapters talk HTTP: through the injected `httpx.AsyncClient`, classified.

Every request gets the settings' timeout and `follow_redirects=False` (a redirect from a token
endpoint is an error, and Mastodon follows redirects itself after checking each hop), and goes
through the retry policy (`mooring.platforms.retry`). Transport failures and non-2xx answers
become `PlatformError`s; the original httpx exception is dropped (`from None`) because its
message and traceback carry the URL, and Meta's URLs carry tokens.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from mooring.platforms.classify import (
    Signals,
    classify_response,
    classify_transport_error,
    response_json,
)
from mooring.platforms.exceptions import PlatformError, error_for
from mooring.platforms.outcomes import Classification
from mooring.platforms.retry import IDEMPOTENT_METHODS, RetryPolicy
from mooring.platforms.settings import HttpSettings
from mooring.platforms.transport import AiohttpTransport
from mooring.service.tracing import instrument_http_client

__all__ = [
    "Clock",
    "PlatformClient",
    "PlatformHttp",
    "bearer",
    "malformed",
    "new_http_client",
    "optional_str",
    "require_str",
]

Clock = Callable[[], datetime]


class PlatformClient(httpx.AsyncClient):
    """The client `new_http_client` builds: an `httpx.AsyncClient` that also carries the retry
    policy of the settings it was built from, so every `PlatformHttp` over it follows them."""

    def __init__(self, *, retry: RetryPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_policy = retry


def new_http_client(settings: HttpSettings, **kwargs: Any) -> PlatformClient:
    """THE client to the platforms for this process: one connection pool, its limits, timeouts,
    transport and retry policy from `settings`.

    A service builds it once at start-up (never at import time), hands it to every adapter
    (`get_adapter(identifier, platform_settings, client)`), and closes it at shutdown::

        client = new_http_client(platform_settings.http)
        try:
            ...  # serve; adapters share `client`
        finally:
            await client.aclose()

    or `async with new_http_client(platform_settings.http) as client: ...` in a lifespan.
    `kwargs` go to `httpx.AsyncClient` (tests pass `transport=httpx.MockTransport(...)`).
    """
    limits = settings.limits()
    options: dict[str, Any] = {
        "timeout": settings.timeout(),
        "limits": limits,
        "follow_redirects": False,
        **kwargs,
    }
    if "transport" not in options and settings.transport == "aiohttp":
        options["transport"] = AiohttpTransport(limits=limits)
    client = PlatformClient(retry=RetryPolicy.from_settings(settings), **options)
    instrument_http_client(client)  # a span per platform call when tracing is on
    return client


_DEFAULT_POLICY = RetryPolicy.from_settings(HttpSettings())


def bearer(token: SecretStr) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.get_secret_value()}"}


def malformed(platform: str, what: str) -> PlatformError:
    return error_for(platform, Classification.transient("malformed_response", detail=what))


def require_str(platform: str, body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise malformed(platform, f"missing {key!r}")
    return value


def optional_str(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class PlatformHttp:
    client: httpx.AsyncClient
    platform: str
    signals: Signals
    timeout: httpx.Timeout
    clock: Clock
    # None: the policy the client was built with (`new_http_client`), else the default one.
    retry: RetryPolicy | None = None

    @property
    def retry_policy(self) -> RetryPolicy:
        if self.retry is not None:
            return self.retry
        if isinstance(self.client, PlatformClient):
            return self.client.retry_policy
        return _DEFAULT_POLICY

    async def send(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        extensions: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """One call, retried as `mooring.platforms.retry` allows. `idempotent` defaults to the
        method's nature; pass False for a GET that spends something (a single-use code)."""

        async def send_once() -> httpx.Response:
            request = self.client.build_request(
                method,
                url,
                params=params,
                data=data,
                json=json,
                headers=headers,
                timeout=self.timeout,
                extensions=dict(extensions) if extensions else None,
            )
            return await self.client.send(
                request,
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                follow_redirects=False,
            )

        if idempotent is None:
            idempotent = method.upper() in IDEMPOTENT_METHODS
        try:
            return await self.retry_policy.send(send_once, idempotent=idempotent)
        except httpx.HTTPError as error:
            raise error_for(self.platform, classify_transport_error(error)) from None
        except httpx.InvalidURL:
            raise error_for(self.platform, Classification.policy("invalid_url")) from None

    def with_signals(self, signals: Signals) -> PlatformHttp:
        return dataclasses.replace(self, signals=signals)

    def classify(self, response: httpx.Response) -> Classification:
        return classify_response(response, signals=self.signals, now=self.clock())

    def raise_for_outcome(self, response: httpx.Response) -> None:
        verdict = self.classify(response)
        if not verdict.is_ok:
            raise error_for(self.platform, verdict)

    def body(self, response: httpx.Response) -> dict[str, Any]:
        self.raise_for_outcome(response)
        body = response_json(response)
        if not isinstance(body, dict):
            raise malformed(self.platform, "body is not a JSON object")
        return body

    async def call(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        response = await self.send(
            method,
            url,
            params=params,
            data=data,
            json=json,
            headers=headers,
            auth=auth,
            idempotent=idempotent,
        )
        return self.body(response)
