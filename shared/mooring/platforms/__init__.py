"""The 12 platform adapters: how Mooring connects, refreshes and verifies each platform's tokens.

Entry points: `get_adapter(identifier, settings, http_client)` and `list_descriptions()`.
Every adapter method returns a typed result or raises a `PlatformError` carrying a
`Classification` (ok / revoked / transient / policy); raw httpx errors never escape.
"""

from mooring.platforms.base import OAuthPlatformAdapter, PlatformAdapter
from mooring.platforms.bluesky import BlueskyAdapter
from mooring.platforms.descriptions import (
    AccountType,
    AuthMethod,
    PlatformDescription,
    RefreshModel,
    SelectionStep,
)
from mooring.platforms.exceptions import (
    AppPasswordRequiredError,
    InvalidInputError,
    PlatformError,
    PlatformUnavailableError,
    PolicyError,
    RateLimitedError,
    RefreshNotAllowedError,
    RevokedError,
    TransientError,
    UnsafeURLError,
    UnsupportedOperationError,
)
from mooring.platforms.http import new_http_client
from mooring.platforms.mastodon import MastodonAdapter
from mooring.platforms.mastodon_apps import (
    InMemoryMastodonAppStore,
    MastodonApp,
    MastodonAppStore,
    SecretCipher,
    SqlMastodonAppStore,
)
from mooring.platforms.outcomes import Classification, Outcome
from mooring.platforms.public_url import HostResolver, SystemResolver, UrlGuard
from mooring.platforms.registry import (
    get_adapter,
    get_bluesky_adapter,
    get_description,
    get_oauth_adapter,
    list_descriptions,
)
from mooring.platforms.results import AuthorizationRequest, Candidate, Profile, TokenSet
from mooring.platforms.settings import PlatformSettings

__all__ = [
    "AccountType",
    "AppPasswordRequiredError",
    "AuthMethod",
    "AuthorizationRequest",
    "BlueskyAdapter",
    "Candidate",
    "Classification",
    "HostResolver",
    "InMemoryMastodonAppStore",
    "InvalidInputError",
    "MastodonAdapter",
    "MastodonApp",
    "MastodonAppStore",
    "OAuthPlatformAdapter",
    "Outcome",
    "PlatformAdapter",
    "PlatformDescription",
    "PlatformError",
    "PlatformSettings",
    "PlatformUnavailableError",
    "PolicyError",
    "Profile",
    "RateLimitedError",
    "RefreshModel",
    "RefreshNotAllowedError",
    "RevokedError",
    "SecretCipher",
    "SelectionStep",
    "SqlMastodonAppStore",
    "SystemResolver",
    "TokenSet",
    "TransientError",
    "UnsafeURLError",
    "UnsupportedOperationError",
    "UrlGuard",
    "get_adapter",
    "get_bluesky_adapter",
    "get_description",
    "get_oauth_adapter",
    "list_descriptions",
    "new_http_client",
]
