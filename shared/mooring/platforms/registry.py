"""Adapters by identifier. Built on demand from settings and an injected client; nothing is
constructed at import time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from mooring.platforms.base import OAuthPlatformAdapter, PlatformAdapter
from mooring.platforms.bluesky import BlueskyAdapter
from mooring.platforms.classify import utc_now
from mooring.platforms.descriptions import DESCRIPTIONS, PlatformDescription
from mooring.platforms.exceptions import UnsupportedOperationError
from mooring.platforms.facebook import FacebookAdapter, InstagramFacebookAdapter
from mooring.platforms.http import Clock
from mooring.platforms.instagram import InstagramAdapter
from mooring.platforms.linkedin import LinkedInAdapter, LinkedInPageAdapter
from mooring.platforms.mastodon import MastodonAdapter
from mooring.platforms.mastodon_apps import MastodonAppStore
from mooring.platforms.outcomes import Classification
from mooring.platforms.pinterest import PinterestAdapter
from mooring.platforms.public_url import HostResolver
from mooring.platforms.settings import PlatformSettings
from mooring.platforms.threads import ThreadsAdapter
from mooring.platforms.tiktok import TikTokAdapter
from mooring.platforms.x import XAdapter
from mooring.platforms.youtube import YouTubeAdapter

__all__ = [
    "get_adapter",
    "get_bluesky_adapter",
    "get_description",
    "get_oauth_adapter",
    "list_descriptions",
]

_BY_ID = {description.identifier: description for description in DESCRIPTIONS}


def list_descriptions() -> tuple[PlatformDescription, ...]:
    return DESCRIPTIONS


def get_description(identifier: str) -> PlatformDescription:
    try:
        return _BY_ID[identifier]
    except KeyError:
        raise UnsupportedOperationError(
            identifier, Classification.policy("unknown_platform", detail="no such platform")
        ) from None


_Factory = Callable[[PlatformSettings, dict[str, Any]], PlatformAdapter]

_STANDARD: dict[str, _Factory] = {
    "linkedin": lambda s, kw: LinkedInAdapter(s.linkedin, **kw),
    "linkedin-page": lambda s, kw: LinkedInPageAdapter(s.linkedin_page, **kw),
    "x": lambda s, kw: XAdapter(s.x, **kw),
    "facebook": lambda s, kw: FacebookAdapter(s.facebook, **kw),
    "instagram": lambda s, kw: InstagramAdapter(s.instagram, **kw),
    "instagram-facebook": lambda s, kw: InstagramFacebookAdapter(s.instagram_facebook, **kw),
    "tiktok": lambda s, kw: TikTokAdapter(s.tiktok, **kw),
    "youtube": lambda s, kw: YouTubeAdapter(s.youtube, **kw),
    "threads": lambda s, kw: ThreadsAdapter(s.threads, **kw),
    "pinterest": lambda s, kw: PinterestAdapter(s.pinterest, **kw),
}


def get_adapter(
    identifier: str,
    settings: PlatformSettings,
    http_client: httpx.AsyncClient,
    *,
    clock: Clock = utc_now,
    mastodon_apps: MastodonAppStore | None = None,
    resolver: HostResolver | None = None,
) -> PlatformAdapter:
    """The adapter for `identifier`. Mastodon needs `mastodon_apps` (the SQL store in services);
    Mastodon and Bluesky take a `resolver` (tests pass a fake; the default is the system's)."""
    get_description(identifier)
    common: dict[str, Any] = {
        "http_client": http_client,
        "timeout": settings.http.timeout(),
        "clock": clock,
    }
    if identifier == "bluesky":
        return BlueskyAdapter(settings.bluesky, resolver=resolver, **common)
    if identifier == "mastodon":
        return MastodonAdapter(settings.mastodon, apps=mastodon_apps, resolver=resolver, **common)
    return _STANDARD[identifier](settings, common)


def get_oauth_adapter(
    identifier: str,
    settings: PlatformSettings,
    http_client: httpx.AsyncClient,
    *,
    clock: Clock = utc_now,
    mastodon_apps: MastodonAppStore | None = None,
    resolver: HostResolver | None = None,
) -> OAuthPlatformAdapter:
    """The adapter for a platform connected through OAuth (every one but Bluesky)."""
    adapter = get_adapter(
        identifier,
        settings,
        http_client,
        clock=clock,
        mastodon_apps=mastodon_apps,
        resolver=resolver,
    )
    if not isinstance(adapter, OAuthPlatformAdapter):
        raise UnsupportedOperationError(
            identifier,
            Classification.policy("not_oauth", detail="this platform uses app passwords"),
        )
    return adapter


def get_bluesky_adapter(
    settings: PlatformSettings,
    http_client: httpx.AsyncClient,
    *,
    clock: Clock = utc_now,
    resolver: HostResolver | None = None,
) -> BlueskyAdapter:
    return BlueskyAdapter(
        settings.bluesky,
        http_client=http_client,
        timeout=settings.http.timeout(),
        clock=clock,
        resolver=resolver,
    )
