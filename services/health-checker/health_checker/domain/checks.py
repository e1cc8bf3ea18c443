"""The connection check's rules: what one check's finding does to an account.

Two strikes: the first auth failure a check finds moves a connected account to `token_expired`
(the incident: `account.disconnected` with the reason and the run's id); a second consecutive
one, found while the account is already `token_expired` (by an earlier check, or by a refresh
the platform refused), moves it to `disconnected`. A success brings a `token_expired` account
back to `connected` (`account.updated`, changed status). `auth_failures` counts the consecutive
failures checks found; any success, recovery or reconnect sets it back to 0.

A run never counts two failures against one account: a check that finds the account already
struck by this run (its `last_checked_at` is not older than the run's start) changes nothing, so
a batch worked again after a crash cannot turn one failure into two.

Transient, policy and unknown outcomes change nothing: a platform outage disconnects nobody.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from mooring.accounts.model import Account, AccountStatus
from mooring.events.account import DisconnectReason

__all__ = [
    "CHECKED_STATUSES",
    "TRANSITIONS",
    "Checked",
    "disconnect_reason",
    "needs_write_on_success",
    "strike",
    "succeed",
]

# The statuses a check looks at; disconnected accounts wait for their owner to reconnect.
CHECKED_STATUSES: tuple[AccountStatus, ...] = ("connected", "token_expired")


class Checked(StrEnum):
    """How one account's check ended (the run's counters and the metrics' labels)."""

    OK = "ok"  # the token works; nothing to change
    REPAIRED = "repaired"  # an auth failure one refresh fixed; still connected
    RECOVERED = "recovered"  # token_expired -> connected
    EXPIRED = "expired"  # connected -> token_expired (first strike)
    DISCONNECTED = "disconnected"  # token_expired -> disconnected (second strike)
    TRANSIENT = "transient"  # outage, timeout, 429: nothing changed
    POLICY = "policy"  # a platform rule, not a dead token: nothing changed
    CHANGED = "changed"  # the account changed under the check (reconnect, refresh): next run
    GONE = "gone"  # removed or disconnected meanwhile
    ALREADY = "already"  # this run already counted a failure against it
    ERROR = "error"  # something unexpected; logged, nothing changed


# The outcomes that moved an account's status (metrics: transitions by kind).
TRANSITIONS = frozenset({Checked.RECOVERED, Checked.EXPIRED, Checked.DISCONNECTED})


def disconnect_reason(account: Account, now: datetime) -> DisconnectReason:
    """`token_expired` when the stored expiry has passed, else `revoked` (the platform refused
    a token that should still work)."""
    expires = account.token_expires_at
    return "token_expired" if expires is not None and expires <= now else "revoked"


def needs_write_on_success(account: Account) -> bool:
    """A healthy account whose row already says so is not written (the common case)."""
    return account.status != "connected" or account.auth_failures != 0


def succeed(account: Account, *, check_run_id: uuid.UUID, at: datetime) -> Checked:
    """The token works: recover a `token_expired` account; end a failure streak."""
    account.last_checked_at = at
    if account.status == "token_expired":
        account.recover(check_run_id=check_run_id, at=at)  # also clears auth_failures
        return Checked.RECOVERED
    account.auth_failures = 0
    return Checked.OK


def strike(
    account: Account,
    *,
    status_before: AccountStatus,
    reason: DisconnectReason,
    check_run_id: uuid.UUID,
    run_started_at: datetime,
    at: datetime,
) -> Checked:
    """An auth failure found by a check. `status_before` is the status the check started from:
    a refused refresh may already have moved the account to `token_expired` on the way."""
    if account.status == "disconnected":
        return Checked.GONE
    checked = account.last_checked_at
    if account.auth_failures > 0 and checked is not None and checked >= run_started_at:
        return Checked.ALREADY
    # An account already token_expired when the check began has had its first strike.
    before = max(account.auth_failures, 1 if status_before == "token_expired" else 0)
    account.auth_failures = before + 1
    account.last_checked_at = at
    if account.auth_failures >= 2:  # noqa: PLR2004 - the second strike
        account.disconnect(reason, check_run_id=check_run_id, at=at)
        return Checked.DISCONNECTED
    account.expire(reason, check_run_id=check_run_id, at=at)  # no-op if already token_expired
    return Checked.EXPIRED
