"""Turn an HTTP response or a transport failure into a `Classification`.

The order matters: a 429 is always transient (whatever its body says), then the platform's own
body signals decide (Meta's code 190 comes with a 400, TikTok reports errors inside a 200), and
only then the bare status code.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, TypeAlias

import httpx

from mooring.platforms.outcomes import Classification

__all__ = [
    "Signals",
    "classify_response",
    "classify_transport_error",
    "parse_retry_after",
    "response_json",
    "utc_now",
]

# A platform's reading of an error body: (status, parsed JSON or None) -> a verdict or None.
Signals: TypeAlias = Callable[[int, Any], Classification | None]

_HTTP_TOO_MANY_REQUESTS = 429
_HTTP_UNAUTHORIZED = 401
_HTTP_FORBIDDEN = 403
_HTTP_REQUEST_TIMEOUT = 408


def parse_retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """`Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3); None when absent or bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return timedelta(seconds=int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


def _reset_header(headers: httpx.Headers, *, now: datetime) -> timedelta | None:
    # X sends `x-rate-limit-reset` as epoch seconds; Mastodon `X-RateLimit-Reset` as an ISO date.
    raw = headers.get("x-rate-limit-reset") or headers.get("x-ratelimit-reset")
    if raw is None:
        return None
    text = raw.strip()
    when: datetime | None = None
    if text.isdigit():
        when = datetime.fromtimestamp(int(text), tz=UTC)
    else:
        with contextlib.suppress(ValueError):
            when = datetime.fromisoformat(text)
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - now, timedelta(0))


def _retry_delay(response: httpx.Response, *, now: datetime) -> timedelta | None:
    return parse_retry_after(response.headers.get("retry-after"), now=now) or _reset_header(
        response.headers, now=now
    )


def response_json(response: httpx.Response) -> Any:
    """The parsed body, or None when it is not JSON (a gateway's HTML error page, say)."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def classify_response(
    response: httpx.Response, *, signals: Signals, now: datetime
) -> Classification:
    status = response.status_code
    if status == _HTTP_TOO_MANY_REQUESTS:
        return Classification.transient(
            "http_429", retry_after=_retry_delay(response, now=now), status_code=status
        )
    verdict = signals(status, response_json(response))
    if verdict is None:
        verdict = _by_status(status)
    if verdict.is_ok or verdict.retry_after is not None:
        return verdict
    delay = _retry_delay(response, now=now)
    if delay is None:
        return verdict
    return Classification(
        outcome=verdict.outcome,
        reason=verdict.reason,
        retry_after=delay,
        status_code=verdict.status_code or status,
        detail=verdict.detail,
    )


def _by_status(status: int) -> Classification:  # noqa: PLR0911 - a verdict table
    if status >= httpx.codes.INTERNAL_SERVER_ERROR:
        return Classification.transient(f"http_{status}", status_code=status)
    if httpx.codes.is_success(status):
        return Classification.ok()
    if status == _HTTP_UNAUTHORIZED:
        return Classification.revoked("http_401", status_code=status)
    if status == _HTTP_REQUEST_TIMEOUT:
        return Classification.transient("http_408", status_code=status)
    if status == _HTTP_FORBIDDEN:
        return Classification.policy("http_403", status_code=status)
    if httpx.codes.is_redirect(status):
        return Classification.policy("unexpected_redirect", status_code=status)
    return Classification.policy(f"http_{status}", status_code=status)


def classify_transport_error(error: httpx.HTTPError) -> Classification:
    """A request that got no usable answer. Never revoked: nothing was said about the token."""
    if isinstance(error, httpx.TimeoutException):
        return Classification.transient("timeout", detail=type(error).__name__)
    if isinstance(error, httpx.TransportError):
        return Classification.transient("connection_error", detail=type(error).__name__)
    return Classification.transient("http_error", detail=type(error).__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)
