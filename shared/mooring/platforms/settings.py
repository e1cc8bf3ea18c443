"""Where each platform lives and who we are to it: one `PlatformSettings`, nested per platform.

Every distinct real host of a platform is its own setting (LinkedIn's www and api hosts, Meta's
dialog and graph hosts, ...), so pointing Mooring at the simulator is configuration only:
set each base to `{SIM_URL}/<prefix>`. Read from the environment as
`MOORING_PLATFORM_<PLATFORM>__<FIELD>`, e.g. `MOORING_PLATFORM_X__CLIENT_ID`,
`MOORING_PLATFORM_LINKEDIN_PAGE__API_BASE`, `MOORING_PLATFORM_HTTP__TIMEOUT_SECONDS`,
`MOORING_PLATFORM_HTTP__TRANSPORT=httpx`,
`MOORING_PLATFORM_MASTODON__ALLOWED_HOSTS='["127.0.0.1:8123"]'`.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "BlueskySettings",
    "HttpSettings",
    "InstagramSettings",
    "LinkedInSettings",
    "MastodonSettings",
    "MetaSettings",
    "PinterestSettings",
    "PlatformSettings",
    "ThreadsSettings",
    "TikTokSettings",
    "XSettings",
    "YouTubeSettings",
]


class _Piece(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    @field_validator("*", mode="after")
    @classmethod
    def _no_trailing_slash(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str) and str(info.field_name).endswith("_base"):
            return value.rstrip("/")
        return value


class _OAuthApp(_Piece):
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")


class HttpSettings(_Piece):
    """The per-process client to the platforms (`new_http_client`) and its retry policy.

    `transport` picks what carries the bytes under the httpx API: `aiohttp` (httpx-aiohttp, the
    cheaper per call, see `bench/bench_http_client.py`) or `httpx` (httpcore). aiohttp has no
    separate keep-alive cap: there `max_keepalive_connections` is not used.
    """

    timeout_seconds: float = Field(default=15.0, gt=0)
    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # Waiting for a free connection: the request has not been sent, so this one is retryable.
    pool_timeout_seconds: float = Field(default=5.0, gt=0)
    transport: Literal["aiohttp", "httpx"] = "aiohttp"
    max_connections: int = Field(default=100, ge=1)
    max_keepalive_connections: int = Field(default=50, ge=0)
    keepalive_expiry_seconds: float = Field(default=30.0, ge=0)
    # Retries of one call (mooring.platforms.retry): attempts in all, and the time they may take
    # together; a platform asking to wait longer than what is left gets the work delayed instead.
    retry_attempts: int = Field(default=3, ge=1, le=10)
    retry_budget_seconds: float = Field(default=10.0, gt=0)
    retry_wait_initial_seconds: float = Field(default=0.2, ge=0)
    retry_wait_max_seconds: float = Field(default=2.0, ge=0)
    retry_wait_jitter_seconds: float = Field(default=0.5, ge=0)

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(
            self.timeout_seconds,
            connect=self.connect_timeout_seconds,
            pool=self.pool_timeout_seconds,
        )

    def limits(self) -> httpx.Limits:
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive_connections,
            keepalive_expiry=self.keepalive_expiry_seconds,
        )


class LinkedInSettings(_OAuthApp):
    auth_base: str = "https://www.linkedin.com"
    api_base: str = "https://api.linkedin.com"
    # `/rest/*` needs a monthly `LinkedIn-Version`; old months are sunset, so it is a setting.
    api_version: str = "202601"


class XSettings(_OAuthApp):
    auth_base: str = "https://x.com"
    api_base: str = "https://api.x.com"


class MetaSettings(_OAuthApp):
    """Facebook Login and the Graph API (Facebook Pages, Instagram via Facebook Business)."""

    dialog_base: str = "https://www.facebook.com"
    graph_base: str = "https://graph.facebook.com"
    graph_version: str = "v25.0"


class InstagramSettings(_OAuthApp):
    """Instagram API with Instagram Login: three hosts."""

    auth_base: str = "https://www.instagram.com"
    token_base: str = "https://api.instagram.com"  # noqa: S105 - a URL
    graph_base: str = "https://graph.instagram.com"
    graph_version: str = "v25.0"


class TikTokSettings(_OAuthApp):
    """`client_id` is TikTok's `client_key`."""

    auth_base: str = "https://www.tiktok.com"
    api_base: str = "https://open.tiktokapis.com"


class YouTubeSettings(_OAuthApp):
    auth_base: str = "https://accounts.google.com"
    token_base: str = "https://oauth2.googleapis.com"  # noqa: S105 - a URL
    api_base: str = "https://www.googleapis.com"


class ThreadsSettings(_OAuthApp):
    """The Threads app id/secret (a Meta app with the Threads use case has its own pair)."""

    auth_base: str = "https://threads.net"
    graph_base: str = "https://graph.threads.net"
    graph_version: str = "v1.0"


class PinterestSettings(_OAuthApp):
    auth_base: str = "https://www.pinterest.com"
    api_base: str = "https://api.pinterest.com"
    # Apps created before 25 Sep 2025 must opt in to continuous refresh (`continuous_refresh=true`).
    continuous_refresh: bool = False


class BlueskySettings(_Piece):
    # Handle -> DID through an XRPC resolver (no DNS TXT lookups from our side).
    resolver_base: str = "https://bsky.social"
    plc_directory_base: str = "https://plc.directory"
    # host[:port] admitted without the public-address check, and over http (the simulator).
    allowed_hosts: tuple[str, ...] = ()


class MastodonSettings(_Piece):
    client_name: str = "Mooring"
    website: str = ""
    # host[:port] admitted without the public-address check, and over http (the simulator).
    allowed_hosts: tuple[str, ...] = ()
    max_redirects: int = Field(default=3, ge=0, le=10)


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MOORING_PLATFORM_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    http: HttpSettings = HttpSettings()
    linkedin: LinkedInSettings = LinkedInSettings()
    linkedin_page: LinkedInSettings = LinkedInSettings()
    x: XSettings = XSettings()
    facebook: MetaSettings = MetaSettings()
    instagram: InstagramSettings = InstagramSettings()
    instagram_facebook: MetaSettings = MetaSettings()
    tiktok: TikTokSettings = TikTokSettings()
    youtube: YouTubeSettings = YouTubeSettings()
    threads: ThreadsSettings = ThreadsSettings()
    pinterest: PinterestSettings = PinterestSettings()
    bluesky: BlueskySettings = BlueskySettings()
    mastodon: MastodonSettings = MastodonSettings()
