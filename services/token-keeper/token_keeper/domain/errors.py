"""Why a valid token cannot be handed out; the HTTP layer maps each to a problem type."""

from __future__ import annotations

import uuid
from datetime import timedelta

__all__ = [
    "AccountInactiveError",
    "AccountNotConnectedError",
    "AccountNotFoundError",
    "RefreshRefusedError",
    "RefreshUnavailableError",
    "TokenError",
]


class TokenError(Exception):
    def __init__(self, account_id: uuid.UUID, message: str) -> None:
        super().__init__(message)
        self.account_id = account_id


class AccountNotFoundError(TokenError):
    def __init__(self, account_id: uuid.UUID) -> None:
        super().__init__(account_id, f"no account {account_id}")


class AccountNotConnectedError(TokenError):
    def __init__(self, account_id: uuid.UUID, status: str) -> None:
        super().__init__(account_id, f"account {account_id} is {status}: the owner must reconnect")
        self.status = status


class AccountInactiveError(TokenError):
    def __init__(self, account_id: uuid.UUID) -> None:
        super().__init__(account_id, f"account {account_id} is deactivated in its workspace")


class RefreshUnavailableError(TokenError):
    """The token would not last the margin and the platform cannot refresh it right now."""

    def __init__(self, account_id: uuid.UUID, reason: str, retry_after: timedelta) -> None:
        super().__init__(
            account_id,
            f"the token of account {account_id} needs a refresh the platform cannot give now "
            f"({reason})",
        )
        self.reason = reason
        self.retry_after = retry_after


class RefreshRefusedError(TokenError):
    """The platform refused the refresh by rule (a scope, a cap): no retry will help soon."""

    def __init__(self, account_id: uuid.UUID, reason: str) -> None:
        super().__init__(
            account_id, f"the platform refused to refresh account {account_id} ({reason})"
        )
        self.reason = reason
