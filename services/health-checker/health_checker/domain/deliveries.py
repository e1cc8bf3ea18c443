"""Post deliveries as the publisher's events describe them, and the stuck-delivery decision.

The projection keeps, per delivery, its newest attempt and that attempt's state. Events may
arrive twice or out of order; folding them is order-tolerant:

- `published` (of any attempt) finishes the delivery for good: nothing reopens it (it keeps
  the highest attempt seen);
- an event of an older attempt than the one known changes nothing;
- within one attempt, `failed` finishes it and a `publishing` that arrives after the finish
  (late) changes nothing; two `publishing` keep the earlier start;
- a newer attempt replaces the older one (`publishing`: in flight again since its time; the
  publisher retried).

A delivery publishing for longer than the threshold is stuck. Its decision: `retry` while
attempts are left and the account is connected and active, else `failed`. No decision is taken
for a post while another of its deliveries is still legitimately in flight (publishing, not yet
past the threshold), nor for an attempt superseded by a newer attempt of the same post and
account.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from mooring.accounts.model import Account

__all__ = [
    "Delivery",
    "DeliveryEvent",
    "DeliveryState",
    "StuckDecision",
    "decide",
    "fold",
    "in_flight",
    "superseded",
]


class DeliveryState(StrEnum):
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"


@dataclass(frozen=True)
class DeliveryEvent:
    """One `post.publishing` / `post.published` / `post.failed`, reduced to what counts."""

    state: DeliveryState
    delivery_id: uuid.UUID
    post_id: uuid.UUID
    account_id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str
    attempt: int
    at: datetime


@dataclass(frozen=True)
class Delivery:
    delivery_id: uuid.UUID
    post_id: uuid.UUID
    account_id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str
    attempt: int
    state: DeliveryState
    publishing_since: datetime | None  # when the current attempt started publishing
    last_event_at: datetime

    @classmethod
    def first(cls, event: DeliveryEvent) -> Delivery:
        return cls(
            delivery_id=event.delivery_id,
            post_id=event.post_id,
            account_id=event.account_id,
            workspace_id=event.workspace_id,
            platform=event.platform,
            attempt=event.attempt,
            state=event.state,
            publishing_since=event.at if event.state is DeliveryState.PUBLISHING else None,
            last_event_at=event.at,
        )


def fold(current: Delivery | None, event: DeliveryEvent) -> Delivery:  # noqa: PLR0911 - one rule each
    """`current` after `event`; the same events in any order, any of them twice, end the same.

    `publishing_since` is kept only while the delivery is publishing; a published delivery
    keeps the highest attempt seen, so the order of a late retry and a publish does not matter.
    """
    if current is None:
        return Delivery.first(event)
    seen = dataclasses.replace(current, last_event_at=max(current.last_event_at, event.at))
    if current.state is DeliveryState.PUBLISHED or event.state is DeliveryState.PUBLISHED:
        return dataclasses.replace(
            seen,
            state=DeliveryState.PUBLISHED,
            attempt=max(current.attempt, event.attempt),
            publishing_since=None,
        )
    if event.attempt < current.attempt:
        return seen
    if event.attempt > current.attempt:
        return dataclasses.replace(
            seen,
            attempt=event.attempt,
            state=event.state,
            publishing_since=event.at if event.state is DeliveryState.PUBLISHING else None,
        )
    if event.state is DeliveryState.FAILED:
        return dataclasses.replace(seen, state=DeliveryState.FAILED, publishing_since=None)
    if current.state is DeliveryState.PUBLISHING:  # the same start seen twice: keep the earlier
        since = current.publishing_since
        return dataclasses.replace(
            seen, publishing_since=event.at if since is None else min(since, event.at)
        )
    return seen  # a late `publishing` never reopens a finished attempt


@dataclass(frozen=True)
class StuckDecision:
    decision: Literal["retry", "failed"]
    reason: str


def decide(delivery: Delivery, account: Account | None, *, max_attempts: int) -> StuckDecision:
    """What to do with a stuck attempt."""
    if account is None:
        return StuckDecision("failed", "account_removed")
    if account.status != "connected":
        return StuckDecision("failed", f"account_{account.status}")
    if not account.active:
        return StuckDecision("failed", "account_inactive")
    if delivery.attempt >= max_attempts:
        return StuckDecision("failed", "attempts_exhausted")
    return StuckDecision("retry", "publishing_timed_out")


def in_flight(deliveries: Iterable[Delivery], *, stuck_before: datetime) -> bool:
    """Some delivery is publishing and not yet past the threshold."""
    return any(
        d.state is DeliveryState.PUBLISHING
        and d.publishing_since is not None
        and d.publishing_since > stuck_before
        for d in deliveries
    )


def superseded(delivery: Delivery, post_deliveries: Iterable[Delivery]) -> bool:
    """A newer attempt for the same post and account exists (the publisher already retried)."""
    return any(
        d.delivery_id != delivery.delivery_id
        and d.account_id == delivery.account_id
        and d.attempt > delivery.attempt
        for d in post_deliveries
    )
