"""What a refresh that did not succeed does to the account (the failure taxonomy's bookkeeping).

`revoked` is the kernel's (`refresh_account` verifies the access token, then expires the
account); this module handles the two outcomes that leave the status alone:

- transient (5xx, timeouts, 429): the account waits `next_refresh_at` before it is tried again:
  the platform's Retry-After when it said one, else a cooldown that doubles with each attempt of
  the streak (5 min, 10, 20 ... up to an hour), so one failing account is never tried more than
  once every few minutes. Failures are counted in *days* (`refresh_failures`, at most one a day,
  UTC); after `give_up_after_days` such days the account is `token_expired` and
  `account.disconnected` (reason `refresh_failed`) goes out. A platform outage of an afternoon
  therefore disconnects nobody.
- policy (a missing scope, a refresh asked too early, a platform cap): recorded as
  `last_failure` and retried after the delay the platform or adapter gave (a too-young Instagram
  token says when it may be extended) or else `policy_retry`; never counted, never a status
  change.

`last_failure` holds a reason code (`transient:http_503`), never a message or a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mooring.accounts.model import Account

__all__ = ["STREAK_META_KEY", "FailureRules", "record_policy", "record_transient"]

STREAK_META_KEY = "refresh_streak"
_MAX_DOUBLINGS = 16


@dataclass(frozen=True, kw_only=True)
class FailureRules:
    cooldown: timedelta
    max_backoff: timedelta
    give_up_after_days: int
    policy_retry: timedelta


def _attempts_so_far(account: Account) -> int:
    """Attempts in the current streak; a streak that ended (a success clears
    `refresh_failing_since`) restarts at zero."""
    streak: Any = account.meta.get(STREAK_META_KEY)
    since = account.refresh_failing_since
    if since is None or not isinstance(streak, dict) or streak.get("since") != since.isoformat():
        return 0
    return int(streak.get("attempts", 0))


def record_transient(
    account: Account,
    reason: str,
    *,
    retry_after: timedelta | None,
    rules: FailureRules,
    now: datetime,
) -> bool:
    """Book one transient failure; True when it was the last straw (the account is now
    `token_expired`, its `account.disconnected` raised)."""
    attempts = _attempts_so_far(account) + 1
    if account.refresh_failing_since is None:
        account.refresh_failing_since = now
    last = account.last_refresh_failure_at
    if last is None or last.date() != now.date():
        account.refresh_failures += 1
    account.last_refresh_failure_at = now
    account.last_failure = f"transient:{reason}"
    backoff = min(rules.cooldown * 2 ** min(attempts - 1, _MAX_DOUBLINGS), rules.max_backoff)
    account.next_refresh_at = now + max(backoff, retry_after or timedelta(0), rules.cooldown)
    account.meta = {
        **account.meta,
        STREAK_META_KEY: {"since": account.refresh_failing_since.isoformat(), "attempts": attempts},
    }
    if account.refresh_failures >= rules.give_up_after_days:
        return account.expire("refresh_failed", at=now)
    return False


def record_policy(
    account: Account,
    reason: str,
    *,
    retry_after: timedelta | None,
    rules: FailureRules,
    now: datetime,
) -> None:
    """Book a refusal by rule: recorded and retried later, never counted, status unchanged."""
    account.last_failure = f"policy:{reason}"
    account.next_refresh_at = now + (retry_after or rules.policy_retry)
