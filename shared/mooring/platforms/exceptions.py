"""The one exception hierarchy platform adapters raise; raw httpx errors never escape.

Every exception carries the `Classification` that produced it, so a caller can branch on
`error.classification.outcome` or on the class:

* PlatformError                    (base: `.platform`, `.classification`)
  + RevokedError                   - the token is dead: invalid_grant, Meta 190, 401, ExpiredToken
  + TransientError                 - try again later; `.retry_after` when the platform said when
  | + RateLimitedError             - 429 or a platform rate-limit code
  | + PlatformUnavailableError     - 5xx, timeouts, connection errors, malformed answers
  + PolicyError                    - a rule, not a dead token: missing scope, quota, wrong client
    + RefreshNotAllowedError       - this token cannot be refreshed (now, or ever)
    + UnsupportedOperationError    - the platform has no such step (OAuth on Bluesky, ...)
    + InvalidInputError            - refused before any network call
      + AppPasswordRequiredError   - Bluesky input that is not an app password
      + UnsafeURLError             - an instance/PDS URL that fails the SSRF guard

Messages are built from classification codes and platform error codes only, never from a token.
"""

from __future__ import annotations

from datetime import timedelta

from mooring.platforms.outcomes import Classification, Outcome

__all__ = [
    "AppPasswordRequiredError",
    "InvalidInputError",
    "PlatformError",
    "PlatformUnavailableError",
    "PolicyError",
    "RateLimitedError",
    "RefreshNotAllowedError",
    "RevokedError",
    "TransientError",
    "UnsafeURLError",
    "UnsupportedOperationError",
    "error_for",
]


class PlatformError(Exception):
    def __init__(self, platform: str, classification: Classification) -> None:
        self.platform = platform
        self.classification = classification
        text = f"{platform}: {classification.outcome.value} ({classification.reason})"
        if classification.detail:
            text = f"{text}: {classification.detail}"
        super().__init__(text)

    @property
    def outcome(self) -> Outcome:
        return self.classification.outcome

    @property
    def retry_after(self) -> timedelta | None:
        return self.classification.retry_after

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.args[0]!r})"


class RevokedError(PlatformError):
    pass


class TransientError(PlatformError):
    pass


class RateLimitedError(TransientError):
    pass


class PlatformUnavailableError(TransientError):
    pass


class PolicyError(PlatformError):
    pass


class RefreshNotAllowedError(PolicyError):
    pass


class UnsupportedOperationError(PolicyError):
    pass


class InvalidInputError(PolicyError):
    def __init__(self, platform: str, reason: str, message: str) -> None:
        super().__init__(platform, Classification.policy(reason, detail=message))
        self.message = message


class AppPasswordRequiredError(InvalidInputError):
    pass


class UnsafeURLError(InvalidInputError):
    pass


_RATE_LIMIT_REASONS = frozenset({"http_429", "rate_limited"})


def error_for(platform: str, classification: Classification) -> PlatformError:
    """The exception that carries a non-ok classification."""
    match classification.outcome:
        case Outcome.REVOKED:
            return RevokedError(platform, classification)
        case Outcome.TRANSIENT if classification.reason in _RATE_LIMIT_REASONS:
            return RateLimitedError(platform, classification)
        case Outcome.TRANSIENT:
            return PlatformUnavailableError(platform, classification)
        case Outcome.POLICY:
            return PolicyError(platform, classification)
        case Outcome.OK:
            raise ValueError("an ok outcome is not an error")
