"""The delivery worker: claims due e-mails, renders and sends them, records what happened.

Every replica runs `senders` workers; they share the queue through `FOR UPDATE SKIP LOCKED`,
so each e-mail is claimed by one of them. A claim is its own short transaction (the row becomes
`sending` with a lease); the SMTP session runs outside any transaction; outcomes are committed
`record_every` at a time (one transaction for several mails). A worker that dies leaves its
rows to the lease, which hands them to another worker later: delivery is at-least-once, a crash
repeats at most the mails whose outcome was not yet recorded, and their Message-ID lets the
receiving side recognise a repeat. What an attempt means (sent, retry after a back-off, failed
for good) is `domain.deliveries.decide`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from notifier.adapters.mail import MailConnection, MailSender
from notifier.adapters.port import ClaimedDelivery, DeliveryView, Finished
from notifier.adapters.rendering import MailRenderer
from notifier.domain.deliveries import Attempt, Outcome, RetryPolicy, decide
from notifier.domain.errors import DeliveryNotFoundError, DeliveryNotRetryableError
from notifier.domain.incidents import DeliveryStatus
from notifier.service_layer.unit_of_work import AbstractNotifierUnitOfWork

__all__ = ["DeliveryDesk", "DeliveryWorker", "HeldMailSweeper"]

logger = logging.getLogger(__name__)

# Templates about an account's failure: once the failure resolved, it is no longer news.
_RESOLVABLE = frozenset({"account_disconnected", "connections_digest"})


def _ignore(status: str) -> None:
    del status


@dataclass(kw_only=True)
class DeliveryWorker:
    uow: Callable[[], AbstractNotifierUnitOfWork]
    sender: MailSender
    renderer: MailRenderer
    policy: RetryPolicy
    batch: int = 50
    lease_s: float = 300.0
    poll_s: float = 1.0
    record_every: int = 10
    on_outcome: Callable[[str], None] = _ignore
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def wake(self) -> None:
        """Look for due mail now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                sent = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("delivery round failed; the next round retries")
                sent = 0
            if sent == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)

    async def run_once(self) -> int:
        """One round: claim, send, record; how many deliveries it handled."""
        async with self.uow() as uow:
            claimed = await uow.deliveries.claim(self.batch, self.lease_s)
            await uow.commit()
        if not claimed:
            return 0
        started = time.monotonic()
        done: list[Finished] = []
        try:
            async with self.sender.connect() as connection:
                for delivery in claimed:
                    done.append(await self._attempt(connection, delivery, started))
                    if len(done) >= self.record_every:
                        await self._record(done)
                        done = []
        finally:
            await self._record(done)
        return len(claimed)

    async def _attempt(
        self, connection: MailConnection, delivery: ClaimedDelivery, started: float
    ) -> Finished:
        if time.monotonic() - started > self.lease_s / 2:
            # Past half the lease: hand it back before another worker may take it over while
            # we would still be sending.
            return Finished(delivery.id, "pending", retry_in_s=0.0)
        if connection.broken:
            # The server went away earlier in this round: the rest waits its back-off instead
            # of each timing out in turn.
            return Finished(
                delivery.id,
                "pending",
                retry_in_s=self.policy.delay(delivery.attempts).total_seconds(),
                error="not tried: the SMTP connection failed earlier in the round",
            )
        rows = delivery.notifications
        if delivery.template in _RESOLVABLE:
            rows = [r for r in rows if r.resolved_at is None]
        if not rows:
            return Finished(delivery.id, "superseded")
        if delivery.recipient is None:
            return Finished(delivery.id, "held")
        try:
            mail = self.renderer.render(
                delivery.template,
                delivery_id=delivery.id,
                workspace_id=delivery.workspace_id,
                recipient=delivery.recipient,
                rows=rows,
            )
        except Exception as exc:  # our bug: recorded for an operator, not retried every lease
            logger.exception(
                "e-mail could not be rendered", extra={"delivery_id": str(delivery.id)}
            )
            return Finished(delivery.id, "failed", error=f"not rendered: {type(exc).__name__}")
        attempt = await connection.send(mail)
        outcome = decide(
            attempt,
            attempts=delivery.attempts,
            age=delivery.claimed_at - delivery.created_at,
            policy=self.policy,
        )
        _log(delivery, attempt, outcome)
        return Finished(
            delivery.id,
            outcome.status,
            retry_in_s=outcome.retry_in.total_seconds() if outcome.retry_in else None,
            code=attempt.code,
            error=attempt.error,
            recipient=delivery.recipient if attempt.accepted else None,
        )

    async def _record(self, done: list[Finished]) -> None:
        """Outcomes a few at a time: one transaction for several mails (a crash resends at
        most `record_every` of them, which their Message-ID lets a receiver recognise)."""
        if not done:
            return
        async with self.uow() as uow:
            await uow.deliveries.finish(done)
            await uow.commit()
        for finished in done:
            self.on_outcome(finished.status)


def _log(delivery: ClaimedDelivery, attempt: Attempt, outcome: Outcome) -> None:
    if outcome.status == "sent":
        return
    fields = {
        "delivery_id": str(delivery.id),
        "template": delivery.template,
        "attempts": delivery.attempts,
        "stage": attempt.stage,
        "code": attempt.code,
        "error": attempt.error,
    }
    if outcome.status == "failed":
        logger.error("e-mail not delivered", extra=fields | {"why": outcome.reason})
    else:
        level = logging.ERROR if attempt.stage == "session" else logging.WARNING
        logger.log(level, "e-mail delayed", extra=fields)


@dataclass(frozen=True, kw_only=True)
class HeldMailSweeper:
    """Releases held mail of workspaces whose owner became known while the mail was being
    queued by a concurrent batch (the owner handler releases everything else at once)."""

    uow: Callable[[], AbstractNotifierUnitOfWork]
    interval_s: float
    on_released: Callable[[], None] = lambda: None

    async def sweep_once(self) -> int:
        async with self.uow() as uow:
            released = await uow.deliveries.release_held()
            await uow.commit()
        if released:
            logger.info("held mail released", extra={"released": released})
            self.on_released()
        return released

    async def run(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("held-mail sweep failed; the next round retries")
            await asyncio.sleep(self.interval_s)


@dataclass(frozen=True)
class DeliveryDesk:
    """What an operator may see and do with the queue."""

    uow: Callable[[], AbstractNotifierUnitOfWork]

    async def list(
        self,
        *,
        status: DeliveryStatus | None = None,
        workspace_id: uuid.UUID | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[DeliveryView]:
        async with self.uow() as uow:
            return await uow.deliveries.view(
                status=status, workspace_id=workspace_id, limit=limit, offset=offset
            )

    async def get(self, delivery_id: uuid.UUID) -> DeliveryView:
        async with self.uow() as uow:
            found = await uow.deliveries.get(delivery_id)
        if found is None:
            raise DeliveryNotFoundError(delivery_id)
        return found

    async def retry(self, delivery_id: uuid.UUID) -> DeliveryView:
        """Send a failed delivery again (after the cause was fixed); 409 for any other state."""
        async with self.uow() as uow:
            if not await uow.deliveries.retry_failed(delivery_id):
                found = await uow.deliveries.get(delivery_id)
                if found is None:
                    raise DeliveryNotFoundError(delivery_id)
                raise DeliveryNotRetryableError(delivery_id, found.status)
            view = await uow.deliveries.get(delivery_id)
            await uow.commit()
        assert view is not None  # noqa: S101 - updated in this transaction
        return view
