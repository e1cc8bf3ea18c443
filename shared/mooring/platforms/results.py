"""What adapters hand back. Secrets are `SecretStr`, so a repr, a log line or an f-string shows
`**********`; read one with `.get_secret_value()` at the point of use only."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import SecretStr

from mooring.platforms.descriptions import AccountType

__all__ = ["AuthorizationRequest", "Candidate", "Profile", "TokenSet"]


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenSet:
    """A platform's credentials for one account, as returned by its last token response.

    `expires_at` is None when the platform says the token does not expire (Mastodon, Facebook
    page tokens from a long-lived user token). `issued_at` is when this access token was
    issued: Instagram and Threads may extend a token only once it is 24 h old. `service_url` is
    the per-account base for platforms without a fixed host (Bluesky PDS, Mastodon instance).
    """

    access_token: SecretStr
    refresh_token: SecretStr | None = None
    issued_at: datetime
    expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    scopes: tuple[str, ...] = ()
    service_url: str | None = None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def age(self, now: datetime) -> timedelta:
        return now - self.issued_at

    def replace(self, **changes: object) -> TokenSet:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, kw_only=True, slots=True)
class Profile:
    platform_account_id: str
    username: str | None = None
    display_name: str | None = None
    avatar_url: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Candidate:
    """One account the user may pick in the selection step (org, page, IG account, channel).

    `tokens` is set where the platform issues a token per candidate (Facebook page tokens, the
    page token that publishes to a page's Instagram account); otherwise the user's tokens apply.
    `parent_id` is the Facebook page behind an Instagram candidate.
    """

    id: str
    account_type: AccountType
    name: str | None = None
    username: str | None = None
    avatar_url: str | None = None
    tokens: TokenSet | None = None
    parent_id: str | None = None

    def profile(self) -> Profile:
        return Profile(
            platform_account_id=self.id,
            username=self.username,
            display_name=self.name,
            avatar_url=self.avatar_url,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class AuthorizationRequest:
    """Where to send the user. Keep `code_verifier` server-side with the state until the callback."""

    url: str
    state: str
    code_verifier: SecretStr | None = None
    service_url: str | None = None
