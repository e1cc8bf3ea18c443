"""What the connector refuses, as exceptions the entrypoints turn into problem details.

    ConnectorError
     +-- NotFoundError                 no such account or connection in this workspace (404)
     +-- RedirectNotAllowedError       redirect_url is not on the allow-list (422)
     +-- InvalidConnectRequestError    a field that does not fit the platform (422)
     +-- RateLimitedError              too many connect starts in the window (429)
     +-- PlanLimitError                billing-gate says the workspace is full (402)
     +-- BillingUnavailableError       billing-gate did not answer: nothing was made (503)
     +-- WrongAccountError             a reconnect came back with another identity (409)
     +-- ConnectionExpiredError        the connection's state has expired (410)
     +-- ConnectionNotSelectableError  nothing to select now (409)
     +-- UnknownCandidateError         a candidate id the connection does not offer (422)
     +-- CallbackError                 a callback that cannot go on; `code` names why
         +-- UnknownStateError         no such state: nothing says where to send the user (400)
         +-- StateReplayedError        the state was used before
         +-- StateExpiredError         the state is older than its 15 minutes
         +-- WrongPlatformError        the state belongs to another platform's callback
         +-- PlatformDeclinedError     the platform's own `error` (access_denied, ...)
         +-- MissingCodeError          neither a code nor an error came back
         +-- NoCandidatesError         the grant offers no page, organisation or channel

Platform failures (`mooring.platforms.PlatformError`) are not wrapped: they carry their own
classification, which the entrypoints read.
"""

from __future__ import annotations

import uuid
from typing import Any

__all__ = [
    "INACTIVE_ACCOUNT_REASONS",
    "PLATFORM_ERROR_CODES",
    "BillingUnavailableError",
    "CallbackError",
    "ConnectionExpiredError",
    "ConnectionNotSelectableError",
    "ConnectorError",
    "InvalidConnectRequestError",
    "MissingCodeError",
    "NoCandidatesError",
    "NotFoundError",
    "PlanLimitError",
    "PlatformDeclinedError",
    "RateLimitedError",
    "RedirectNotAllowedError",
    "StateExpiredError",
    "StateReplayedError",
    "UnknownCandidateError",
    "UnknownStateError",
    "WrongAccountError",
    "WrongPlatformError",
]


# Platform classification reasons that say the account itself is not active (Bluesky: a session
# answer with `active: false`, or the PDS's own error names).
INACTIVE_ACCOUNT_REASONS = frozenset(
    {"account_inactive", "AccountTakedown", "AccountDeactivated", "AccountSuspended"}
)


class ConnectorError(Exception):
    pass


class NotFoundError(ConnectorError):
    """Also what another workspace's account or connection is: ids cannot be probed."""

    def __init__(self, what: str) -> None:
        super().__init__(f"no such {what} in this workspace")
        self.what = what


class RedirectNotAllowedError(ConnectorError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"redirect_url is not allowed: {reason}")


class InvalidConnectRequestError(ConnectorError):
    def __init__(self, slug: str, detail: str) -> None:
        super().__init__(detail)
        self.slug = slug


class RateLimitedError(ConnectorError):
    def __init__(self, retry_after_s: int, limit: int, window_s: int) -> None:
        super().__init__(
            f"at most {limit} connects may start per workspace every {window_s} s; "
            f"retry in {retry_after_s} s"
        )
        self.retry_after_s = retry_after_s


class PlanLimitError(ConnectorError):
    """`problem` is billing-gate's 402 body (plan, limit, used, reserved, upgrade_to)."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(str(problem.get("detail") or "the plan's account limit is reached"))
        self.problem = problem


class BillingUnavailableError(ConnectorError):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            "the plan limit could not be checked (billing-gate did not answer); nothing was "
            "connected, try again shortly"
        )
        self.retry_after_s = retry_after_s


class WrongAccountError(ConnectorError):
    def __init__(self, account_id: uuid.UUID) -> None:
        super().__init__(
            f"the platform signed in another account than {account_id}: nothing was changed; "
            "sign in as that account to reconnect it"
        )
        self.account_id = account_id


class ConnectionExpiredError(ConnectorError):
    def __init__(self) -> None:
        super().__init__("the connection expired; start a new one")


class ConnectionNotSelectableError(ConnectorError):
    def __init__(self, status: str) -> None:
        super().__init__(f"the connection is {status}: there is nothing to select")
        self.status = status


class UnknownCandidateError(ConnectorError):
    def __init__(self, candidate_ids: list[str]) -> None:
        shown = ", ".join(candidate_ids[:5])
        super().__init__(f"not offered by this connection: {shown}")
        self.candidate_ids = candidate_ids


class CallbackError(ConnectorError):
    """A callback that stops here; `code` goes to the redirect URL as `?error=`."""

    code = "connect_failed"


class UnknownStateError(CallbackError):
    code = "invalid_state"

    def __init__(self) -> None:
        super().__init__("the state is missing or unknown: start the connection again")


class StateReplayedError(CallbackError):
    code = "state_used"

    def __init__(self) -> None:
        super().__init__("the state was already used")


class StateExpiredError(CallbackError):
    code = "state_expired"

    def __init__(self) -> None:
        super().__init__("the state has expired")


class WrongPlatformError(CallbackError):
    code = "wrong_platform"

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(f"the state belongs to {expected}, not {got}")


# The authorization endpoint's error codes (RFC 6749 §4.1.2.1, OpenID Connect) and the platforms'
# own (LinkedIn's cancellations): carried through as they are. Anything else is `platform_error`,
# so what a redirect URL and a metric label can say stays a known, short list.
PLATFORM_ERROR_CODES = frozenset(
    {
        "access_denied",
        "invalid_request",
        "unauthorized_client",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
        "consent_required",
        "login_required",
        "interaction_required",
        "user_cancelled_login",
        "user_cancelled_authorize",
    }
)


class PlatformDeclinedError(CallbackError):
    """The platform's `error` parameter, carried through when it is a known code."""

    def __init__(self, error: str) -> None:
        value = error.strip().lower()
        self.code = value if value in PLATFORM_ERROR_CODES else "platform_error"
        super().__init__(f"the platform answered {self.code}")


class MissingCodeError(CallbackError):
    code = "missing_code"

    def __init__(self) -> None:
        super().__init__("the platform sent neither a code nor an error")


class NoCandidatesError(CallbackError):
    code = "no_candidates"

    def __init__(self, platform: str) -> None:
        super().__init__(f"this {platform} sign-in gives access to nothing that can be connected")
