"""The connector's refusals as RFC 9457 problem details with stable types.

Platform failures keep their classification: a Bluesky PDS's own message ("Invalid identifier
or password") reaches `detail` (the adapter redacted it), the outcome picks the status: an
input the platform refuses is 422, a platform that is down or rate-limiting is 503 with
`Retry-After`.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator
from typing import Any

from connector.domain.errors import (
    INACTIVE_ACCOUNT_REASONS,
    BillingUnavailableError,
    ConnectionExpiredError,
    ConnectionNotSelectableError,
    ConnectorError,
    InvalidConnectRequestError,
    NotFoundError,
    PlanLimitError,
    RateLimitedError,
    RedirectNotAllowedError,
    UnknownCandidateError,
    UnknownStateError,
    WrongAccountError,
)
from mooring.platforms import (
    AppPasswordRequiredError,
    InvalidInputError,
    PlatformError,
    RevokedError,
    TransientError,
    UnsafeURLError,
)
from mooring.service.problems import Problem

__all__ = ["PLAN_LIMIT_FIELDS", "domain_errors", "platform_problem"]

logger = logging.getLogger(__name__)

PLAN_LIMIT_FIELDS = ("plan", "limit", "used", "reserved", "upgrade_to")
_PLATFORM_RETRY_AFTER_S = 30


def platform_problem(error: PlatformError) -> Problem:
    verdict = error.classification
    # Input refused before any call (a handle's shape, an unsafe URL) is the caller's, not news.
    level = logging.INFO if isinstance(error, InvalidInputError) else logging.WARNING
    logger.log(
        level,
        "platform refused a connect step",
        extra={
            "platform": error.platform,
            "outcome": verdict.outcome.value,
            "reason": verdict.reason,
            "detail": verdict.detail,
        },
    )
    detail = verdict.detail or verdict.reason
    extra: dict[str, Any] = {"platform": error.platform, "reason": verdict.reason}
    if isinstance(error, TransientError):
        wait = error.retry_after.total_seconds() if error.retry_after else _PLATFORM_RETRY_AFTER_S
        return Problem(
            503,
            "platform-unavailable",
            "Platform unavailable",
            detail,
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
            **extra,
        )
    slug, title = _platform_refusal(error)
    return Problem(422, slug, title, detail, **extra)


def _platform_refusal(error: PlatformError) -> tuple[str, str]:
    """(slug, title) of a 422 for an input the platform refused."""
    for kind, slug, title in (
        (AppPasswordRequiredError, "app-password-required", "App password required"),
        (UnsafeURLError, "unsafe-url", "URL not allowed"),
        (InvalidInputError, "invalid-platform-input", "Invalid input"),
        (RevokedError, "platform-credentials-rejected", "The platform refused the credentials"),
    ):
        if isinstance(error, kind):
            return slug, title
    if error.classification.reason in INACTIVE_ACCOUNT_REASONS:
        return "platform-account-inactive", "Account not active"
    return "platform-refused", "The platform refused"


def _problem_for(exc: ConnectorError) -> Problem:  # noqa: C901, PLR0911 - one answer per refusal
    detail = str(exc)
    match exc:
        case NotFoundError():
            return Problem(404, "not-found", "Not found", detail)
        case RedirectNotAllowedError():
            return Problem(422, "redirect-not-allowed", "Redirect URL not allowed", detail)
        case InvalidConnectRequestError():
            return Problem(422, exc.slug, "The request does not fit the platform", detail)
        case RateLimitedError():
            return Problem(
                429, "rate-limited", "Too many connects", detail,
                headers={"Retry-After": str(exc.retry_after_s)},
            )  # fmt: skip
        case PlanLimitError():
            fields = {k: exc.problem.get(k) for k in PLAN_LIMIT_FIELDS}
            return Problem(402, "plan-limit-reached", "Plan limit reached", detail, **fields)
        case BillingUnavailableError():
            return Problem(
                503, "billing-unavailable", "Plan limit cannot be checked", detail,
                headers={"Retry-After": str(exc.retry_after_s)},
            )  # fmt: skip
        case WrongAccountError():
            return Problem(409, "wrong-account", "Another account signed in", detail)
        case ConnectionExpiredError():
            return Problem(410, "connection-expired", "Connection expired", detail)
        case ConnectionNotSelectableError():
            return Problem(409, "connection-not-selectable", "Nothing to select", detail)
        case UnknownCandidateError():
            return Problem(
                422, "unknown-candidate", "Unknown candidate", detail,
                candidate_ids=exc.candidate_ids,
            )  # fmt: skip
        case UnknownStateError():
            return Problem(400, "invalid-state", "Unknown or missing state", detail)
        case _:
            return Problem(400, "connect-failed", "Connect failed", detail)


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    """Re-raise the use cases' refusals as problems the kernel's handler renders."""
    try:
        yield
    except ConnectorError as exc:
        raise _problem_for(exc) from exc
    except PlatformError as exc:
        raise platform_problem(exc) from exc
