"""Who an account is on its platform: the key that tells a reconnect from a new account."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Identity"]


@dataclass(frozen=True)
class Identity:
    platform: str
    platform_account_id: str
