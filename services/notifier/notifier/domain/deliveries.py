"""How an e-mail's delivery goes on after an attempt: sent, tried again later, or given up.

Every e-mail is a delivery row. A worker claims due rows, sends, and records the outcome:

- accepted → `sent`;
- the server could not be reached, timed out, dropped the connection, or answered 4xx (a
  temporary refusal in SMTP's own terms) → `pending` again after a back-off (exponential with
  jitter, capped): an outage delays mail and loses none;
- the server answered 5xx to the message (sender, recipient or content refused) → `failed`,
  recorded with the code, never retried by the worker (an operator may retry it by hand);
- a transient failure that has lasted longer than the give-up age → `failed` too, so a mail
  nobody can deliver does not circulate for ever.

A 5xx to the session itself (greeting, EHLO, STARTTLS, AUTH) says the *relay* refuses us (a
wrong password, say), not that this message is bad: it is treated as transient and logged as an
error, so fixing the configuration delivers everything that waited.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

__all__ = ["Attempt", "Outcome", "RetryPolicy", "Stage", "decide"]

# connect: no answer (refused, timed out, dropped); session: the relay refused us (greeting,
# EHLO, STARTTLS, AUTH); message: the relay refused this message; local: the message cannot be
# written at all (an address the e-mail package refuses).
Stage = Literal["connect", "session", "message", "local"]
_PERMANENT_FROM = 500


@dataclass(frozen=True)
class Attempt:
    """What one send attempt came to: accepted, or refused (`code`) at a `stage`, or not
    answered at all (`code` None)."""

    accepted: bool
    stage: Stage = "message"
    code: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    status: Literal["sent", "pending", "failed"]
    retry_in: timedelta | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    initial: timedelta = timedelta(seconds=5)
    maximum: timedelta = timedelta(minutes=10)
    give_up_after: timedelta = timedelta(days=3)

    def delay(self, attempts: int, *, jitter: float | None = None) -> timedelta:
        """The wait after the `attempts`-th failed try: initial * 2^(attempts-1), capped, ±10%."""
        factor = jitter if jitter is not None else random.uniform(0.9, 1.1)
        base = self.initial.total_seconds() * 2 ** max(0, min(attempts - 1, 30))
        return timedelta(seconds=min(base, self.maximum.total_seconds()) * factor)


def decide(attempt: Attempt, *, attempts: int, age: timedelta, policy: RetryPolicy) -> Outcome:
    """The delivery's next state after `attempts` tries (this one included), `age` after it
    was created."""
    if attempt.accepted:
        return Outcome("sent")
    if attempt.stage == "local":
        return Outcome("failed", reason="unsendable")
    if attempt.stage == "message" and attempt.code is not None and attempt.code >= _PERMANENT_FROM:
        return Outcome("failed", reason="rejected")
    if age >= policy.give_up_after:
        return Outcome("failed", reason="gave_up")
    return Outcome("pending", retry_in=policy.delay(attempts))
