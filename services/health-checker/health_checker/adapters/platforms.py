"""The platforms as the health-checker reaches them: one shared client, gated per platform.

The client is `mooring.platforms.new_http_client` over the configured transport (aiohttp by
default) wrapped in `GatedTransport`, built when the service starts (inside the running event
loop: aiohttp binds to it) and closed when it stops. Adapters are built on first use and kept.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from health_checker.adapters.gate import GatedTransport, PlatformGates
from health_checker.config import PlatformLimit
from mooring.platforms import PlatformAdapter, PlatformSettings, get_adapter, new_http_client
from mooring.platforms.http import PlatformClient
from mooring.platforms.transport import AiohttpTransport

__all__ = ["PlatformDirectory"]


class PlatformDirectory:
    def __init__(
        self,
        settings: PlatformSettings,
        limits: dict[str, PlatformLimit],
        *,
        on_wait: Callable[[str, float], None] = lambda _platform, _seconds: None,
    ) -> None:
        self._settings = settings
        self._limits = limits
        self._on_wait = on_wait
        self._client: PlatformClient | None = None
        self._gates: PlatformGates | None = None
        self._adapters: dict[str, PlatformAdapter] = {}

    async def open(self) -> None:
        """Build the gates and the shared client (a `runtime.on_start` hook)."""
        self._gates = PlatformGates(self._limits, on_wait=self._on_wait)
        http = self._settings.http
        # The pool must not be what limits the checks: the gates are.
        limits = http.limits()
        wanted = max(http.max_connections, self._gates.total_concurrency)
        limits = httpx.Limits(
            max_connections=wanted,
            max_keepalive_connections=max(http.max_keepalive_connections, wanted),
            keepalive_expiry=http.keepalive_expiry_seconds,
        )
        inner: httpx.AsyncBaseTransport = (
            AiohttpTransport(limits=limits)
            if http.transport == "aiohttp"
            else httpx.AsyncHTTPTransport(limits=limits)
        )
        self._client = new_http_client(http, transport=GatedTransport(inner), limits=limits)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._client = None
        self._adapters.clear()

    @property
    def gates(self) -> PlatformGates:
        if self._gates is None:
            raise RuntimeError("the platform client is not open (the service has not started)")
        return self._gates

    def adapter(self, platform: str) -> PlatformAdapter:
        if self._client is None:
            raise RuntimeError("the platform client is not open (the service has not started)")
        adapter = self._adapters.get(platform)
        if adapter is None:
            adapter = self._adapters[platform] = get_adapter(platform, self._settings, self._client)
        return adapter
