"""When an account's token is due: a refresh, a reconnect reminder, or nothing.

Three refresh models (the platform description says which):

- refresh tokens, rotating or not (X, TikTok, Pinterest, YouTube, LinkedIn partner apps, Bluesky
  sessions): due when the token expires within the lead time *plus the sweep interval*, so a
  token that would enter its last `lead` minutes before the next sweep is refreshed by this one
  (with an hourly sweep and a 30 min lead, a 2 h X token is refreshed 30 to 90 min before it
  expires; with the lead alone, one expiring 31 min after a sweep would be dead at the next);
- extend-in-place (Instagram, Threads): due once the token is old enough for the platform to
  extend it (24 h) and it expires within the extension window (10 days);
- no refresh possible (Facebook, Instagram via Facebook, and any account of a refresh-token
  platform that holds no refresh token, such as LinkedIn self-serve apps): a reconnect reminder
  at each threshold (14 and 3 days before expiry), once per threshold and expiry.

A token that never expires is never due. Expiry comes from the token answer's `expires_in`
(stored as `token_expires_at`); an answer without it on a platform whose tokens do expire is
given the platform's documented lifetime from its issue time (`effective_expiry`), because
taking it for "never expires" would leave it to die unrefreshed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mooring.accounts.model import Account
from mooring.platforms.descriptions import PlatformDescription, RefreshModel
from mooring.platforms.registry import get_description

__all__ = [
    "REMINDERS_META_KEY",
    "RefreshRules",
    "TokenFacts",
    "can_refresh",
    "effective_expiry",
    "refresh_due",
    "reminder_due",
    "reminders_sent",
    "valid_for",
    "with_reminder_sent",
]

REMINDERS_META_KEY = "reconnect_reminders"
_SAME_TOKEN = timedelta(days=1)
_REFRESH_TOKEN_MODELS = (RefreshModel.ROTATING, RefreshModel.NON_ROTATING)


@dataclass(frozen=True, kw_only=True)
class RefreshRules:
    lead: timedelta
    sweep_interval: timedelta
    extend_window: timedelta
    reminder_days: tuple[int, ...] = (14, 3)

    @property
    def horizon(self) -> timedelta:
        """How far ahead a refresh-token account is due: the lead, plus the time until the
        next sweep looks again."""
        return self.lead + self.sweep_interval

    @property
    def reminder_horizon(self) -> timedelta:
        return timedelta(days=max(self.reminder_days, default=0))


@dataclass(frozen=True, kw_only=True)
class TokenFacts:
    """What the rules look at; no secret, only whether a refresh token is held."""

    platform: str
    expires_at: datetime | None
    issued_at: datetime | None
    next_refresh_at: datetime | None
    has_refresh_token: bool

    @classmethod
    def of(cls, account: Account) -> TokenFacts:
        return cls(
            platform=account.platform,
            expires_at=account.token_expires_at,
            issued_at=account.token_issued_at or account.created_at,
            next_refresh_at=account.next_refresh_at,
            has_refresh_token=account.credentials.refresh_token is not None,
        )

    @property
    def description(self) -> PlatformDescription:
        return get_description(self.platform)


def effective_expiry(
    description: PlatformDescription, expires_at: datetime | None, issued_at: datetime | None
) -> datetime | None:
    """The stored expiry; without one, the issue time plus the documented lifetime (None: the
    platform's tokens do not expire)."""
    if expires_at is not None:
        return expires_at
    if description.token_lifetime_seconds is None or issued_at is None:
        return None
    return issued_at + timedelta(seconds=description.token_lifetime_seconds)


def can_refresh(description: PlatformDescription, *, has_refresh_token: bool) -> bool:
    if description.refresh_model is RefreshModel.NONE:
        return False
    if description.refresh_model in _REFRESH_TOKEN_MODELS:
        return has_refresh_token
    return True  # extend-in-place and sessions refresh with what every account holds


def _expiry(facts: TokenFacts) -> datetime | None:
    return effective_expiry(facts.description, facts.expires_at, facts.issued_at)


def refresh_due(facts: TokenFacts, rules: RefreshRules, now: datetime) -> bool:
    """In its model's refresh window, and not cooling down after a failure."""
    description = facts.description
    if not can_refresh(description, has_refresh_token=facts.has_refresh_token):
        return False
    if facts.next_refresh_at is not None and facts.next_refresh_at > now:
        return False
    expiry = _expiry(facts)
    if expiry is None:
        return False
    if description.refresh_model is RefreshModel.EXTEND_IN_PLACE:
        old_enough = facts.issued_at is not None and now - facts.issued_at >= timedelta(
            seconds=description.refresh_min_age_seconds
        )
        return old_enough and expiry <= now + rules.extend_window
    return expiry <= now + rules.horizon


def valid_for(facts: TokenFacts, margin: timedelta, now: datetime) -> bool:
    """Will the access token still work `margin` from now (a token that never expires does)?"""
    expiry = _expiry(facts)
    return expiry is None or expiry > now + margin


def reminders_sent(meta: Mapping[str, Any], expiry: datetime) -> set[int]:
    """The thresholds already reminded of for this token: a reconnect brings an expiry weeks
    later, and with it a fresh set; a recomputed expiry a few seconds off is the same token."""
    record = meta.get(REMINDERS_META_KEY)
    if not isinstance(record, Mapping):
        return set()
    try:
        recorded = datetime.fromisoformat(str(record.get("expires_at")))
    except ValueError:
        return set()
    if abs(recorded - expiry) >= _SAME_TOKEN:
        return set()
    return {int(days) for days in record.get("sent", ())}


def reminder_due(
    facts: TokenFacts, rules: RefreshRules, now: datetime, sent: Collection[int]
) -> int | None:
    """The threshold (in days) to remind the owner of now, or None.

    Only the most urgent threshold reached is sent: an account first seen 2 days before expiry
    gets the 3-day reminder, not the 14-day one as well.
    """
    if can_refresh(facts.description, has_refresh_token=facts.has_refresh_token):
        return None
    expiry = _expiry(facts)
    if expiry is None:
        return None
    reached = [d for d in rules.reminder_days if expiry - now <= timedelta(days=d)]
    if not reached:
        return None
    days = min(reached)
    return None if days in sent else days


def with_reminder_sent(
    meta: Mapping[str, Any], expiry: datetime, days: int, rules: RefreshRules
) -> dict[str, Any]:
    """`meta` recording that the `days` reminder (and every earlier threshold) went out."""
    sent = reminders_sent(meta, expiry) | {d for d in rules.reminder_days if d >= days}
    return {
        **meta,
        REMINDERS_META_KEY: {"expires_at": expiry.isoformat(), "sent": sorted(sent, reverse=True)},
    }
