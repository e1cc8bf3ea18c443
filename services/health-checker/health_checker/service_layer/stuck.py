"""Stuck posts: the delivery projection, and `social:recover-stuck-posts`.

The projection folds the publisher's `post.publishing` / `post.published` / `post.failed`
events into one row per delivery (`domain.deliveries.fold`): batches arrive with only events
this consumer group has not handled (the runtime's inbox), in one transaction each; several
events of one batch may touch the same delivery, and events may be late or repeated with new
ids, which the fold tolerates. An event older than the retention period is ignored: its
delivery may already have been forgotten, and must not come back as "publishing".

The sweep (every 30 minutes by default) takes the deliveries publishing for longer than the
threshold whose attempt has no decision yet, post by post: a post with a delivery still
legitimately in flight waits for the next sweep; an attempt a newer attempt of the same post
and account superseded is left alone. For the rest it decides `retry` or `failed`
(`domain.deliveries.decide`), records the decision under its unique key (delivery, attempt) and
emits `post.stuck` in the same transaction, so an attempt is decided once however often the
sweep runs, on however many replicas. Finally it forgets finished or decided deliveries past
the retention period.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from health_checker.domain.deliveries import (
    Delivery,
    DeliveryEvent,
    DeliveryState,
    decide,
    fold,
    in_flight,
    superseded,
)
from health_checker.service_layer.unit_of_work import AbstractHealthUnitOfWork
from mooring.events import Envelope, PostFailed, PostPublished, PostPublishing, PostStuck
from mooring.service.scheduler import JobContext

__all__ = ["D", "DeliveryEventPayload", "RecoverStuckPosts", "project_deliveries"]

logger = logging.getLogger(__name__)

DeliveryEventPayload = PostPublishing | PostPublished | PostFailed
D = TypeVar("D", PostPublishing, PostPublished, PostFailed)

_STATES: dict[type[DeliveryEventPayload], DeliveryState] = {
    PostPublishing: DeliveryState.PUBLISHING,
    PostPublished: DeliveryState.PUBLISHED,
    PostFailed: DeliveryState.FAILED,
}


def _event(payload: DeliveryEventPayload) -> DeliveryEvent:
    return DeliveryEvent(
        state=_STATES[type(payload)],
        delivery_id=payload.delivery_id,
        post_id=payload.post_id,
        account_id=payload.account_id,
        workspace_id=payload.workspace_id,
        platform=payload.platform,
        attempt=payload.attempt,
        at=payload.at,
    )


async def project_deliveries(
    uow: AbstractHealthUnitOfWork,
    envelopes: Sequence[Envelope[D]],
    *,
    retention: timedelta,
) -> int:
    """Fold a batch of delivery events into the projection (the caller commits); how many
    deliveries the batch was about (events older than the retention left out)."""
    oldest = await uow.deliveries.now() - retention
    events = [_event(e.payload) for e in envelopes if e.payload.at >= oldest]
    if len(events) < len(envelopes):
        logger.info(
            "delivery events older than the retention ignored",
            extra={"ignored": len(envelopes) - len(events)},
        )
    if not events:
        return 0
    current = await uow.deliveries.lock(events)
    before = dict(current)
    for event in events:  # in arrival order; the fold does not depend on it
        current[event.delivery_id] = fold(current.get(event.delivery_id), event)
    await uow.deliveries.save([d for key, d in current.items() if d != before.get(key)])
    return len(current)


@dataclass(kw_only=True)
class RecoverStuckPosts:
    uow: Callable[[], AbstractHealthUnitOfWork]
    threshold: timedelta
    max_attempts: int
    retention: timedelta
    on_decided: Callable[[str], None] = lambda _decision: None
    page: int = 500

    async def __call__(self, ctx: JobContext) -> None:
        counts = await self.sweep(ctx)
        logger.info("stuck-post sweep finished", extra=dict(counts))

    async def sweep(self, ctx: JobContext | None = None) -> Counter[str]:
        """One sweep; counts of `retry`, `failed`, `waiting` (a delivery of the post still in
        flight), `superseded` and `pruned`."""
        counts: Counter[str] = Counter()
        async with self.uow() as uow:
            stuck_before = await uow.deliveries.now() - self.threshold
        postponed: set[Delivery] = set()
        while True:
            async with self.uow() as uow:
                stuck = [
                    d
                    for d in await uow.deliveries.stuck(stuck_before, self.page + len(postponed))
                    if d not in postponed
                ]
            if not stuck:
                break
            for post_stuck in _by_post(stuck).values():
                decided = await self._decide_post(post_stuck, stuck_before, counts)
                postponed.update(d for d in post_stuck if d not in decided)
            if ctx is not None:
                ctx.progress(counts["retry"] + counts["failed"], None, **counts)
        async with self.uow() as uow:
            counts["pruned"] = await uow.deliveries.prune(
                await uow.deliveries.now() - self.retention
            )
            await uow.commit()
        if ctx is not None:
            ctx.progress(counts["retry"] + counts["failed"], None, **counts)
        return counts

    async def _decide_post(
        self, stuck: list[Delivery], stuck_before: datetime, counts: Counter[str]
    ) -> set[Delivery]:
        """Decide the post's stuck attempts in one transaction; the ones decided (by this
        sweep or an earlier one)."""
        decided: set[Delivery] = set()
        async with self.uow() as uow:
            post = await uow.deliveries.of_posts({stuck[0].post_id})
            if in_flight(post, stuck_before=stuck_before):
                counts["waiting"] += len(stuck)
                return decided
            for delivery in stuck:
                if superseded(delivery, post):
                    # Never decided; marked so that later sweeps pass it by and it is pruned.
                    decided.add(delivery)
                    if await uow.deliveries.record_decision(
                        delivery, "superseded", "newer_attempt"
                    ):
                        counts["superseded"] += 1
                    continue
                account = await uow.accounts.get(delivery.account_id)
                decision = decide(delivery, account, max_attempts=self.max_attempts)
                decided.add(delivery)
                if not await uow.deliveries.record_decision(
                    delivery, decision.decision, decision.reason
                ):
                    continue  # decided before: once per attempt
                uow.emit(
                    PostStuck(
                        post_id=delivery.post_id,
                        delivery_id=delivery.delivery_id,
                        account_id=delivery.account_id,
                        workspace_id=delivery.workspace_id,
                        platform=delivery.platform,
                        decision=decision.decision,
                        attempt=delivery.attempt,
                        publishing_since=delivery.publishing_since or delivery.last_event_at,
                        reason=decision.reason,
                    )
                )
                counts[decision.decision] += 1
                self.on_decided(decision.decision)
            await uow.commit()
        return decided


def _by_post(deliveries: list[Delivery]) -> dict[uuid.UUID, list[Delivery]]:
    grouped: dict[uuid.UUID, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        grouped[delivery.post_id].append(delivery)
    return grouped
