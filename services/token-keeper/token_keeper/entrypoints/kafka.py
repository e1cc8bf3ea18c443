"""The refresh workers: `token.expiring` in fetched batches, refreshes run concurrently.

Why batches and not the per-record subscriber: a refresh holds its account's row lock for a
platform round trip (tens of milliseconds, seconds on a slow platform), and the per-record
subscriber handles one record at a time per process, which would cap a replica at one platform
call in flight. Here each fetched batch (up to `worker_batch_size` records, all partitions
of this replica) is spread over `worker_concurrency` refreshes at once, each in its own unit of
work (its own transaction and row lock, committed before anything else happens).

Order and offsets stay right because:
- a consumer hands over one batch at a time and its offsets are committed only after the
  handler returned, i.e. after every refresh of the batch committed (a crash redelivers the
  batch; the redelivered records find their accounts no longer due and change nothing);
- records of one account (one key) inside a batch are taken in order by one task, and a second
  one for the same account only re-checks (`not_due`) under the lock;
- a transient or policy failure is booked on the account (its cooldown in `next_refresh_at`,
  picked up again by the retry sweep) instead of delaying the partition, so one failing
  account never holds up the others and nothing is dead-lettered for a platform's fault.

An unexpected error (a bug, the database gone) lets every other refresh of the batch finish,
then raises: the runtime retries the batch, splits it, and dead-letters only a record that keeps
failing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

from mooring.events.base import Envelope
from mooring.events.token import TokenExpiring
from mooring.uow.base import UnitOfWork
from token_keeper.service_layer.refresher import Refresher

__all__ = ["RefreshWorkers"]

logger = logging.getLogger(__name__)


class RefreshWorkers:
    def __init__(self, refresher: Refresher, *, concurrency: int) -> None:
        self._refresher = refresher
        self._concurrency = concurrency

    async def on_token_expiring(
        self,
        envelopes: Sequence[Envelope[TokenExpiring]],
        uow: UnitOfWork,  # noqa: ARG002 - holds the batch's inbox marks; refreshes use their own
    ) -> None:
        # Reminders (refreshable false) are for the notifier: nothing to refresh.
        accounts = list(
            dict.fromkeys(e.payload.account_id for e in envelopes if e.payload.refreshable)
        )
        if not accounts:
            return
        gate = asyncio.Semaphore(self._concurrency)

        async def one(account_id: uuid.UUID) -> None:
            async with gate:
                await self._refresher.refresh_if_due(account_id)

        results = await asyncio.gather(*(one(a) for a in accounts), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            logger.error(
                "refreshes raised unexpectedly; the batch will be retried",
                extra={"failed": len(errors), "batch": len(accounts)},
            )
            raise errors[0]
