"""Marks expired reservations and forgets settled ones after a retention period.

Housekeeping only: every decision already ignores a reservation past its `expires_at`, so a
stalled sweeper never holds a slot. Replicas may sweep at the same time; the updates are
idempotent, so no lock is taken. Expiry is judged by the database's clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from billing_gate.service_layer.unit_of_work import AbstractBillingUnitOfWork

__all__ = ["ReservationSweeper"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ReservationSweeper:
    uow: Callable[[], AbstractBillingUnitOfWork]
    interval_s: float
    retention: timedelta

    async def sweep_once(self) -> tuple[int, int]:
        """(expired now, purged) for one round."""
        async with self.uow() as uow:
            expired = await uow.billing.expire_due()
            purged = await uow.billing.purge_finished(self.retention)
            await uow.commit()
        if expired or purged:
            logger.info("reservations swept", extra={"expired": expired, "purged": purged})
        return expired, purged

    async def run(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("reservation sweep failed; next round retries")
            await asyncio.sleep(self.interval_s)
