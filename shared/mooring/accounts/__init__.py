"""The shared account aggregate and its one repository."""

from __future__ import annotations

from mooring.accounts.model import Account, AccountStatus, Credentials
from mooring.accounts.repository import AccountExistsError, AccountRepository, StaleAccountError

__all__ = [
    "Account",
    "AccountExistsError",
    "AccountRepository",
    "AccountStatus",
    "Credentials",
    "StaleAccountError",
]
