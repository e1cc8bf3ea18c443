"""What the notifier acts on, distilled from the events it consumes.

Each consumed event becomes at most one signal; an event that can never concern the owner (a
removal's `account.disconnected` is a user's own action, a refreshable `token.expiring` is the
token-keeper's business) becomes none, or a bookkeeping signal (`AccountGone`, `AccountSeen`).
Free text from other services (a post's error, a display name) is kept only after `clean_text`:
it is shown to people, so it must not smuggle a token or a header into a message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from mooring.logs import redact

__all__ = [
    "AccountFailed",
    "AccountGone",
    "AccountRecovered",
    "AccountSeen",
    "PostFailure",
    "ReconnectReminder",
    "Signal",
    "clean_text",
    "is_failure_reason",
    "is_recovery_update",
]

MAX_TEXT = 300


def clean_text(value: str | None, limit: int = MAX_TEXT) -> str | None:
    """Free text made safe to show: secret-looking parts redacted, control characters (line
    breaks included: a subject line must stay one line) turned into spaces, length bounded."""
    if value is None:
        return None
    text = redact(value)
    text = "".join(" " if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 else c for c in text)  # noqa: PLR2004 - C0/C1 controls
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or None


def is_failure_reason(reason: str) -> bool:
    """A lost connection the owner must act on; `removed` is the owner's own doing."""
    return reason != "removed"


def is_recovery_update(changed: list[str], status: str | None) -> bool:
    """`account.updated` saying the status went back to connected."""
    return "status" in changed and status == "connected"


@dataclass(frozen=True)
class _AccountSignal:
    account_id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str
    at: datetime


@dataclass(frozen=True)
class AccountFailed(_AccountSignal):
    """The account left `connected` (token expired, revoked, refresh failed)."""

    platform_account_id: str
    reason: str
    status: str | None
    check_run_id: uuid.UUID | None = None


@dataclass(frozen=True)
class AccountRecovered(_AccountSignal):
    """The account works again: reconnected by a person, or found working by a check."""

    via: Literal["reconnected", "check"] = "check"


@dataclass(frozen=True)
class AccountGone(_AccountSignal):
    """A person removed the account: nothing about it is worth a message any more."""


@dataclass(frozen=True)
class AccountSeen(_AccountSignal):
    """A connect told us how people know the account (its name); no message."""

    label: str | None


@dataclass(frozen=True)
class ReconnectReminder(_AccountSignal):
    """A token that cannot be refreshed ends soon: reconnect before `expires_at`."""

    expires_at: datetime
    reminder_days: int | None


@dataclass(frozen=True)
class PostFailure(_AccountSignal):
    """A post could not be published to the account (given up on, or found stuck and failed)."""

    post_id: uuid.UUID
    delivery_id: uuid.UUID
    error: str | None


Signal = (
    AccountFailed | AccountRecovered | AccountGone | AccountSeen | ReconnectReminder | PostFailure
)
