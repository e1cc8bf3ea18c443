"""What the notifier tells an owner about, and the names people read for the platforms."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "KINDS",
    "PLATFORM_NAMES",
    "Kind",
    "Template",
    "platform_name",
]

# One preference (e-mail on or off) per kind; in-app notifications are always kept.
Kind = Literal["account_disconnected", "reconnect_reminder", "account_recovered", "posts_failed"]
KINDS: tuple[Kind, ...] = get_args(Kind)

# An e-mail is one notification rendered by its kind's template, or the daily check's summary
# of several `account_disconnected` notifications of one workspace and one check run.
Template = Kind | Literal["connections_digest"]

PLATFORM_NAMES: dict[str, str] = {
    "linkedin": "LinkedIn",
    "linkedin-page": "LinkedIn Page",
    "x": "X",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "instagram-facebook": "Instagram (via Facebook)",
    "tiktok": "TikTok",
    "youtube": "YouTube",
    "threads": "Threads",
    "pinterest": "Pinterest",
    "bluesky": "Bluesky",
    "mastodon": "Mastodon",
}


def platform_name(platform: str) -> str:
    """The platform as people call it; an id the notifier does not know is shown as it is."""
    return PLATFORM_NAMES.get(platform, platform)
