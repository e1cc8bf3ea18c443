"""Who an account is on its platform, and whether an account takes a slot.

The identity tells a reconnect from a new account. Whether an account counts is decided by the
newest of its connect and removal times, so duplicated and re-ordered events agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Identity", "IncompleteIdentityError", "counts", "frees_slot"]

# Only a user's removal takes the account out of the workspace; a lost token (token_expired,
# revoked, refresh_failed) keeps it, and its slot with it.
_SLOT_FREEING_REASONS = frozenset({"removed"})


class IncompleteIdentityError(ValueError):
    def __init__(self) -> None:
        super().__init__("give platform and platform_account_id together, or neither")


@dataclass(frozen=True)
class Identity:
    platform: str
    platform_account_id: str

    @classmethod
    def from_parts(cls, platform: str | None, platform_account_id: str | None) -> Identity | None:
        """Both parts make an identity, neither makes none; one alone is refused."""
        if platform is None and platform_account_id is None:
            return None
        if platform is None or platform_account_id is None:
            raise IncompleteIdentityError
        return cls(platform, platform_account_id)


def counts(connected_at: datetime | None, removed_at: datetime | None) -> bool:
    """An account takes a slot unless its newest removal is at least as new as its newest connect.

    `connected_at` is None when only a confirm counted it: such an account counts until removed,
    and only a connect event newer than the removal brings it back.
    """
    if removed_at is None:
        return True
    return connected_at is not None and connected_at > removed_at


def frees_slot(reason: str) -> bool:
    """Does an `account.disconnected` with this reason give the account's slot back?"""
    return reason in _SLOT_FREEING_REASONS
