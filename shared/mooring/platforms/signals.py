"""Each platform's own error signals, read from the response body (docs/platforms.md).

A function here returns None when the body says nothing it recognises; `classify_response`
then falls back to the status code. Unknown 4xx bodies are never read as a dead token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mooring.platforms.classify import Signals
from mooring.platforms.outcomes import Classification

__all__ = [
    "ErrorSignals",
    "bluesky_signals",
    "google_signals",
    "linkedin_signals",
    "mastodon_signals",
    "meta_signals",
    "oauth_signals",
    "pinterest_signals",
    "tiktok_signals",
    "x_signals",
]

_MAX_DETAIL = 160


@dataclass(frozen=True, slots=True)
class ErrorSignals:
    """A platform's readings: of its API errors, and of its token endpoint's errors."""

    api: Signals
    token: Signals


def _short(value: object) -> str:
    return str(value)[:_MAX_DETAIL] if value is not None else ""


def _oauth_error(  # noqa: PLR0911 - one verdict per RFC 6749 code
    status: int, body: Any, *, invalid_request_is_revoked: bool = False
) -> Classification | None:
    """RFC 6749 §5.2 token-endpoint errors: `{"error": "invalid_grant", ...}`."""
    if not isinstance(body, dict):
        return None
    code = body.get("error")
    if not isinstance(code, str):
        return None
    detail = _short(body.get("error_description"))
    match code:
        case "invalid_grant" | "invalid_token":
            return Classification.revoked(code, status_code=status, detail=detail)
        case "invalid_request" if invalid_request_is_revoked:
            return Classification.revoked(code, status_code=status, detail=detail)
        case (
            "invalid_client"
            | "unauthorized_client"
            | "invalid_scope"
            | "insufficient_scope"
            | "access_denied"
            | "unsupported_grant_type"
            | "invalid_request"
        ):
            return Classification.policy(code, status_code=status, detail=detail)
        case "temporarily_unavailable" | "server_error":
            return Classification.transient(code, status_code=status, detail=detail)
        case _:
            return None


def oauth_signals(status: int, body: Any) -> Classification | None:
    return _oauth_error(status, body)


def x_signals(status: int, body: Any) -> Classification | None:
    # X answers a used or unknown refresh token with 400 invalid_request "Value passed for the
    # token was invalid.": for X that is a dead token, not a bad request.
    return _oauth_error(status, body, invalid_request_is_revoked=True)


def linkedin_signals(status: int, body: Any) -> Classification | None:
    return _oauth_error(status, body)


def google_signals(status: int, body: Any) -> Classification | None:
    verdict = _oauth_error(status, body)
    if verdict is not None or not isinstance(body, dict):
        return verdict
    error = body.get("error")
    if not isinstance(error, dict):
        return None
    errors = error.get("errors")
    reason = ""
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        reason = str(errors[0].get("reason", ""))
    detail = _short(error.get("message"))
    if reason in {"rateLimitExceeded", "userRateLimitExceeded"}:
        return Classification.transient("rate_limited", status_code=status, detail=reason)
    if reason in {"quotaExceeded", "dailyLimitExceeded"}:
        return Classification.policy("quota_exceeded", status_code=status, detail=reason)
    if reason == "insufficientPermissions":
        return Classification.policy("missing_scope", status_code=status, detail=detail)
    return None


# Meta Graph error codes (docs/platforms.md, Facebook): 190/102 dead token, 10 and 200-299
# permission, 4/17/32/613 and the 80001-80014 business-use-case codes are rate limits.
_META_REVOKED = frozenset({102, 190})
_META_RATE_LIMIT = frozenset({4, 17, 32, 613})
_META_BUC_RATE_LIMIT = range(80001, 80015)
_META_PERMISSION = frozenset({10, *range(200, 300)})
_META_TRANSIENT = frozenset({1, 2})
_META_POLICY_BLOCK = frozenset({368})


def meta_signals(status: int, body: Any) -> Classification | None:  # noqa: PLR0911 - a verdict table
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, str):
        return _oauth_error(status, body)
    if not isinstance(error, dict):
        return None
    code = error.get("code")
    subcode = error.get("error_subcode")
    detail = f"code {code}" + (f" subcode {subcode}" if subcode is not None else "")
    if code in _META_REVOKED:
        return Classification.revoked(f"meta_{code}", status_code=status, detail=detail)
    if code in _META_RATE_LIMIT or code in _META_BUC_RATE_LIMIT:
        return Classification.transient("rate_limited", status_code=status, detail=detail)
    if error.get("is_transient") is True or code in _META_TRANSIENT:
        return Classification.transient(f"meta_{code}", status_code=status, detail=detail)
    if code in _META_PERMISSION:
        return Classification.policy("missing_permission", status_code=status, detail=detail)
    if code in _META_POLICY_BLOCK:
        return Classification.policy(f"meta_{code}", status_code=status, detail=detail)
    if error.get("type") == "OAuthException" and code is None:
        # Meta: an OAuthException with no subcode means expired, revoked or invalid. Read only when
        # there is no code at all: other errors (code 100, say) also come without a subcode.
        return Classification.revoked("meta_oauth_exception", status_code=status, detail=detail)
    return None


_TIKTOK_REVOKED = frozenset({"access_token_invalid", "access_token_expired", "invalid_grant"})
_TIKTOK_POLICY = frozenset(
    {"scope_not_authorized", "scope_permission_missed", "reached_active_user_cap"}
)
_TIKTOK_TRANSIENT = frozenset({"internal_error", "rate_limit_exceeded"})


def tiktok_signals(status: int, body: Any) -> Classification | None:  # noqa: PLR0911 - a verdict table
    """TikTok: API errors `{"error": {"code": ...}}` (also inside a 200), OAuth errors flat."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, str):
        return _oauth_error(status, body)
    if not isinstance(error, dict):
        return None
    code = str(error.get("code", ""))
    if code in {"", "ok"}:
        return None
    if code in _TIKTOK_REVOKED:
        return Classification.revoked(code, status_code=status)
    if code == "rate_limit_exceeded":
        return Classification.transient("rate_limited", status_code=status, detail=code)
    if code in _TIKTOK_TRANSIENT:
        return Classification.transient(code, status_code=status)
    if code in _TIKTOK_POLICY:
        return Classification.policy(code, status_code=status)
    return Classification.policy(f"tiktok_{code}"[:_MAX_DETAIL], status_code=status)


_BLUESKY_REVOKED = frozenset(
    {
        "ExpiredToken",
        "InvalidToken",
        "AuthMissing",
        "AuthenticationRequired",
        "AuthFactorTokenRequired",
    }
)
_BLUESKY_ACCOUNT = frozenset({"AccountTakedown", "AccountDeactivated", "AccountSuspended"})


def bluesky_signals(status: int, body: Any) -> Classification | None:
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if not isinstance(error, str):
        return None
    if error in _BLUESKY_REVOKED:
        return Classification.revoked(error, status_code=status)
    if error in _BLUESKY_ACCOUNT:
        return Classification.policy(error, status_code=status)
    if error == "RateLimitExceeded":
        return Classification.transient("rate_limited", status_code=status, detail=error)
    return None


def pinterest_signals(status: int, body: Any) -> Classification | None:
    verdict = _oauth_error(status, body)
    if verdict is not None or not isinstance(body, dict):
        return verdict
    code = body.get("code")
    if code == 2:  # noqa: PLR2004 - Pinterest's "Authentication failed."
        return Classification.revoked("pinterest_2", status_code=status)
    if code == 29:  # noqa: PLR2004 - "not permitted"
        return Classification.policy("pinterest_29", status_code=status)
    return None


def mastodon_signals(status: int, body: Any) -> Classification | None:
    # Mastodon's API errors put a human sentence in "error" ("The access token is invalid"), so
    # only the token endpoint's RFC 6749 codes are read; the rest falls back to the status.
    return _oauth_error(status, body)
