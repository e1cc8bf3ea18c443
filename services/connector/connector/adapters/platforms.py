"""The platforms as the connector reaches them: one shared HTTP client, one adapter each.

The client (`mooring.platforms.new_http_client`) is built when the service starts, inside the
running event loop, and closed when it stops; adapters are built on first use over it and kept.
Mastodon's app registrations live in the kernel's `platform_apps` table (client secrets sealed),
so every replica registers an app on an instance once.
"""

from __future__ import annotations

from collections.abc import Callable

from mooring.platforms import (
    BlueskyAdapter,
    MastodonAppStore,
    PlatformSettings,
    get_bluesky_adapter,
    get_oauth_adapter,
    new_http_client,
)
from mooring.platforms.base import OAuthPlatformAdapter
from mooring.platforms.http import PlatformClient
from mooring.platforms.public_url import HostResolver
from mooring.vault import Vault

__all__ = ["DeferredCipher", "PlatformDirectory"]


class DeferredCipher:
    """The vault as the Mastodon app store's cipher, looked up when first used: the app is
    built without keys (`make openapi`), and the runtime refuses to start without them."""

    def __init__(self, vault: Callable[[], Vault | None]) -> None:
        self._vault = vault

    def _get(self) -> Vault:
        vault = self._vault()
        if vault is None:
            raise RuntimeError("the token vault is not configured (MOORING_VAULT_KEYS)")
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
        mastodon_apps: MastodonAppStore,
        resolver: HostResolver | None = None,
    ) -> None:
        self._settings = settings
        self._mastodon_apps = mastodon_apps
        self._resolver = resolver
        self._client: PlatformClient | None = None
        self._oauth: dict[str, OAuthPlatformAdapter] = {}
        self._bluesky: BlueskyAdapter | None = None

    async def open(self) -> None:
        """Build the shared client (a `runtime.on_start` hook: inside the event loop)."""
        self._client = new_http_client(self._settings.http)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._client = None
        self._oauth.clear()
        self._bluesky = None

    @property
    def client(self) -> PlatformClient:
        if self._client is None:
            raise RuntimeError("the platform client is not open (the service has not started)")
        return self._client

    def oauth(self, platform: str) -> OAuthPlatformAdapter:
        adapter = self._oauth.get(platform)
        if adapter is None:
            adapter = get_oauth_adapter(
                platform,
                self._settings,
                self.client,
                mastodon_apps=self._mastodon_apps,
                resolver=self._resolver,
            )
            self._oauth[platform] = adapter
        return adapter

    def bluesky(self) -> BlueskyAdapter:
        if self._bluesky is None:
            self._bluesky = get_bluesky_adapter(
                self._settings, self.client, resolver=self._resolver
            )
        return self._bluesky
