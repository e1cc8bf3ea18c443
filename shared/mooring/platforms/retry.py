"""The one retry policy for HTTP calls to platforms (stamina does the looping and the waiting).

Only what is safe to send again is sent again:

* GET/HEAD/OPTIONS (`idempotent`): transport errors, 5xx and 429.
* Anything else, token POSTs above all: only when the request certainly never reached the
  server (connect error, connect timeout, pool timeout) or when the server said to come back
  (429 or 503 with `Retry-After`). A refresh of a rotating refresh token that reached the
  platform is never repeated: the repeat would fail with `invalid_grant` and look like a
  revocation.

A `Retry-After` (seconds or an HTTP date) is the wait before the next attempt; otherwise the
wait is stamina's jittered exponential back-off. The policy is bounded by `attempts` and by
`budget`: a wait that would end past the budget is not taken. The last answer is then returned
as it is (a 429 or 503 keeps its `Retry-After`, so the classification carries the delay and the
Kafka consumer can postpone the work), or the last transport error is raised.

Every attempt is itself bounded by the request timeout, so a call lasts at most `budget` plus
one timeout. In tests, `stamina.set_testing(True, attempts=..., cap=True)` removes every wait;
a `Retry-After` longer than the budget is still handed back rather than retried.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import stamina

from mooring.platforms.classify import parse_retry_after
from mooring.platforms.settings import HttpSettings

__all__ = ["IDEMPOTENT_METHODS", "RetryPolicy"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# The request never left this process: safe to send again whatever it was.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Mistakes on our side; sending again cannot help.
_NEVER = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
_COME_BACK_LATER = frozenset({httpx.codes.TOO_MANY_REQUESTS, httpx.codes.SERVICE_UNAVAILABLE})


class _RetryableAnswer(Exception):  # noqa: N818 - not an error: an answer worth another attempt
    """Carries a retryable response through stamina; the message has the status only (URLs
    carry tokens, and stamina logs what caused a retry)."""

    def __init__(self, response: httpx.Response, delay: float | None) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.delay = delay


def _asked_delay(response: httpx.Response) -> float | None:
    delay = parse_retry_after(response.headers.get("retry-after"), now=datetime.now(UTC))
    return delay.total_seconds() if delay is not None else None


def _retryable_answer(response: httpx.Response, *, idempotent: bool) -> _RetryableAnswer | None:
    status = response.status_code
    if status != httpx.codes.TOO_MANY_REQUESTS and status < httpx.codes.INTERNAL_SERVER_ERROR:
        return None
    delay = _asked_delay(response)
    # Anything but a GET is repeated only when the server said it did not process the request
    # and when to come back.
    if idempotent or (status in _COME_BACK_LATER and delay is not None):
        return _RetryableAnswer(response, delay)
    return None


def _is_retryable_error(error: Exception, *, idempotent: bool) -> bool:
    if isinstance(error, _NEVER) or not isinstance(error, httpx.TransportError):
        return False
    return idempotent or isinstance(error, _NOT_SENT)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempts in all, the seconds they may take together, and stamina's back-off."""

    attempts: int = 3
    budget: float = 10.0
    wait_initial: float = 0.2
    wait_max: float = 2.0
    wait_jitter: float = 0.5

    @classmethod
    def from_settings(cls, settings: HttpSettings) -> RetryPolicy:
        return cls(
            attempts=settings.retry_attempts,
            budget=settings.retry_budget_seconds,
            wait_initial=settings.retry_wait_initial_seconds,
            wait_max=settings.retry_wait_max_seconds,
            wait_jitter=settings.retry_wait_jitter_seconds,
        )

    def _longest_backoff(self, failed_attempt: int) -> float:
        # The longest wait stamina may pick after this attempt (its formula, jitter at its max);
        # none in its testing mode.
        if stamina.is_testing():
            return 0.0
        return min(
            self.wait_max, self.wait_initial * 2.0 ** (failed_attempt - 1) + self.wait_jitter
        )

    async def send(
        self, send_once: Callable[[], Awaitable[httpx.Response]], *, idempotent: bool
    ) -> httpx.Response:
        """`send_once()` until it gives an answer not worth repeating, or the policy says stop.

        `send_once` returns a response already read (not streamed). Raises the last httpx
        exception when no attempt got an answer.
        """
        deadline = time.monotonic() + self.budget
        failed = 0

        # stamina's backoff hook: False stops (the last answer or error goes to the caller),
        # True waits stamina's back-off, a number waits that many seconds.
        def worth_another(error: Exception) -> bool | float:
            nonlocal failed
            failed += 1
            left = deadline - time.monotonic()
            if isinstance(error, _RetryableAnswer):
                if error.delay is not None:
                    # Asked for more than is left: hand the delay to the caller instead.
                    return error.delay if error.delay <= left else False
            elif not _is_retryable_error(error, idempotent=idempotent):
                return False
            return self._longest_backoff(failed) <= left

        try:
            async for attempt in stamina.retry_context(
                on=worth_another,
                attempts=self.attempts,
                timeout=self.budget,
                wait_initial=self.wait_initial,
                wait_max=self.wait_max,
                wait_jitter=self.wait_jitter,
            ):
                with attempt:
                    response = await send_once()
                    if (again := _retryable_answer(response, idempotent=idempotent)) is not None:
                        raise again
                    return response
        except _RetryableAnswer as last:
            return last.response
        raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover
