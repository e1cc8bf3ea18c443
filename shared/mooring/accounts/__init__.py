"""The shared account aggregate, its repository port and the PostgreSQL repository."""

from __future__ import annotations

from mooring.accounts.model import Account, AccountStatus, Credentials
from mooring.accounts.port import (
    AbstractAccountRepository,
    AccountCursor,
    AccountExistsError,
    StaleAccountError,
)
from mooring.accounts.repository import AccountRepository

__all__ = [
    "AbstractAccountRepository",
    "Account",
    "AccountCursor",
    "AccountExistsError",
    "AccountRepository",
    "AccountStatus",
    "Credentials",
    "StaleAccountError",
]
