"""token-keeper's refusals as RFC 9457 problem details with stable types."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

from mooring.service.problems import Problem
from token_keeper.domain.errors import (
    AccountInactiveError,
    AccountNotConnectedError,
    AccountNotFoundError,
    RefreshRefusedError,
    RefreshUnavailableError,
)

__all__ = ["token_errors"]


@contextlib.contextmanager
def token_errors() -> Iterator[None]:
    """Re-raise the domain's refusals as problems the kernel's handler renders."""
    try:
        yield
    except AccountNotFoundError as exc:
        raise Problem(404, "account-not-found", "Account not found", str(exc)) from exc
    except AccountNotConnectedError as exc:
        raise Problem(
            409,
            "account-not-connected",
            "Account not connected",
            str(exc),
            account_status=exc.status,
        ) from exc
    except AccountInactiveError as exc:
        raise Problem(409, "account-inactive", "Account inactive", str(exc)) from exc
    except RefreshRefusedError as exc:
        raise Problem(
            409, "refresh-refused", "Refresh refused by the platform", str(exc), reason=exc.reason
        ) from exc
    except RefreshUnavailableError as exc:
        seconds = max(1, math.ceil(exc.retry_after.total_seconds()))
        raise Problem(
            503,
            "refresh-unavailable",
            "Token refresh unavailable",
            str(exc),
            headers={"Retry-After": str(seconds)},
            reason=exc.reason,
            retry_after=seconds,
        ) from exc
