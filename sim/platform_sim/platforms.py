"""Platform identifiers and the URL prefix (provider) that serves each of them."""

from typing import Final

__all__ = ["PLATFORM_PREFIX", "PREFIXES", "provider_key"]

# Platforms that share one real API share one prefix, and so one token store namespace.
PLATFORM_PREFIX: Final[dict[str, str]] = {
    "linkedin": "linkedin",
    "linkedin-page": "linkedin",
    "x": "x",
    "facebook": "facebook",
    "instagram-facebook": "facebook",
    "instagram": "instagram",
    "tiktok": "tiktok",
    "youtube": "google",
    "google": "google",
    "threads": "threads",
    "pinterest": "pinterest",
    "bluesky": "bluesky",
    "mastodon": "mastodon",
}

PREFIXES: Final[frozenset[str]] = frozenset(PLATFORM_PREFIX.values())


def provider_key(platform: str, instance: str | None = None) -> str:
    """The store namespace of a platform: the prefix, or `mastodon/{instance}` per instance."""
    prefix = PLATFORM_PREFIX.get(platform)
    if prefix is None:
        raise KeyError(platform)
    if prefix == "mastodon" and instance:
        return f"mastodon/{instance}"
    return prefix
