"""Account identities and what an account keeps from its connect.

An identity is (workspace, platform, platform_account_id): unique per workspace, so connecting
it again reconnects the row in place. Mastodon account ids are only unique on their instance,
so the instance is part of the identity there (`109372@mastodon.social`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from mooring.platforms.results import Profile, TokenSet

__all__ = ["APP_PASSWORD", "USER_ACCESS_TOKEN", "AccountSpec", "platform_account_id"]

# Credentials.extra keys: secrets an account keeps beside its access and refresh tokens.
USER_ACCESS_TOKEN = "user_access_token"  # noqa: S105 - a key name
APP_PASSWORD = "app_password"  # noqa: S105 - a key name


def platform_account_id(platform: str, profile_id: str, service_url: str | None) -> str:
    if platform == "mastodon" and service_url:
        parts = urlsplit(service_url)
        return f"{profile_id}@{parts.netloc}{parts.path.rstrip('/')}"
    return profile_id


@dataclass(frozen=True)
class AccountSpec:
    """One account a connect wants to create or reconnect, with everything it will hold."""

    platform: str
    platform_account_id: str
    account_type: str
    profile: Profile
    tokens: TokenSet = field(repr=False)
    extra: dict[str, SecretStr] = field(default_factory=dict, repr=False)
    meta: dict[str, Any] = field(default_factory=dict)
