"""What a handler may raise to say how a record should be treated, besides success.

Failure hierarchy of a consumed record:

* `RetryLater` — a dependency is down (a platform outage, another service unavailable): the
  record is delayed with back-off (honouring `after`) and processed again; never dead-lettered,
  never counted against the retry budget.
* `RejectEvent` — the event can never be applied (a plan change dated in the future, an unknown
  reference): dead-lettered at once with the reason, no retries.
* `MalformedEventError` (`cloudevents`) — the record is not a valid event: dead-lettered at once.
* infrastructure errors (database or broker unreachable) — redelivered until it is back.
* any other exception — retried a bounded number of times, then dead-lettered.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = ["RejectEvent", "RetryLater"]


class RetryLater(Exception):  # noqa: N818 - an outcome, not an error
    def __init__(self, reason: str, *, after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after


class RejectEvent(Exception):  # noqa: N818 - an outcome, not an error
    """Dead-letter this record now; `str(exc)` is the reason operators read in `dlq-error`."""
