"""The platform adapters of this process, over THE shared HTTP client.

The client binds to the running event loop (aiohttp), so it is built in a `runtime.on_start`
hook and closed in `runtime.on_stop`; adapters are made once per platform and reused.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mooring.platforms import (
    MastodonAppStore,
    PlatformAdapter,
    PlatformSettings,
    get_adapter,
    new_http_client,
)
from mooring.vault import Vault

__all__ = ["PlatformDirectory", "VaultCipher"]


class VaultCipher:
    """The runtime's vault, looked up when first used: `create_app` runs before the vault is
    known to be configured (`make openapi` builds apps without any key)."""

    def __init__(self, vault: Callable[[], Vault | None]) -> None:
        self._vault = vault

    def _get(self) -> Vault:
        vault = self._vault()
        if vault is None:
            raise RuntimeError("no token vault configured (MOORING_VAULT_KEYS)")
        return vault

    def encrypt(self, plaintext: str, *, aad: str) -> bytes:
        return self._get().encrypt(plaintext, aad=aad)

    def decrypt(self, ciphertext: bytes, *, aad: str) -> str:
        return self._get().decrypt(ciphertext, aad=aad)


class PlatformDirectory:
    def __init__(
        self,
        settings: PlatformSettings,
        *,
        mastodon_apps: MastodonAppStore | None = None,
        client_factory: Callable[[], httpx.AsyncClient] | None = None,
    ) -> None:
        self._settings = settings
        self._mastodon_apps = mastodon_apps
        self._client_factory = client_factory or (lambda: new_http_client(settings.http))
        self._client: httpx.AsyncClient | None = None
        self._adapters: dict[str, PlatformAdapter] = {}

    async def open(self) -> None:
        """Build the shared client (a `runtime.on_start` hook: inside the event loop)."""
        if self._client is None:
            self._client = self._client_factory()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._client = None
        self._adapters.clear()

    def adapter_for(self, platform: str) -> PlatformAdapter:
        adapter = self._adapters.get(platform)
        if adapter is None:
            if self._client is None:
                raise RuntimeError("the platform client is not open (the service has not started)")
            adapter = get_adapter(
                platform, self._settings, self._client, mastodon_apps=self._mastodon_apps
            )
            self._adapters[platform] = adapter
        return adapter
