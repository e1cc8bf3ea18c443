"""Usage as a projection of account events, right under duplicated and re-ordered delivery.

Usage is the set of live account ids per workspace, never a bare counter: a duplicate connect
adds an id already there, a removal leaves a tombstone that a late connect cannot undo, and a
removal seen twice finds its tombstone. The inbox skips exact duplicates before any of that runs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from billing_gate.adapters.repository import BillingRepository
from billing_gate.domain.accounts import Identity
from mooring.events import utcnow
from mooring.messaging.inbox import first_delivery

__all__ = ["UsageProjection"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class UsageProjection:
    sessions: async_sessionmaker[AsyncSession]
    consumer: str
    clock: Callable[[], datetime] = utcnow

    async def account_connected(
        self,
        event_id: uuid.UUID,
        *,
        workspace_id: uuid.UUID,
        account_id: uuid.UUID,
        identity: Identity,
        reconnected: bool,
    ) -> None:
        """A new account takes a slot (and settles the reservation held for it); a reconnect
        counts nothing, but still settles a reservation taken before its identity was known."""
        async with self.sessions() as session, session.begin():
            if not await first_delivery(session, consumer=self.consumer, event_id=event_id):
                return
            repo = BillingRepository(session)
            # Lock first: counting the account and closing its reservation must look like one
            # step to a concurrent `reserve`, or it could see neither and grant a slot too many.
            await repo.lock_workspace(workspace_id)
            if not reconnected:
                await repo.count_account(workspace_id, account_id, identity)
            settled = await repo.settle_for_identity(
                workspace_id, identity, account_id, self.clock()
            )
            if settled is not None:
                logger.info(
                    "reservation settled by account.connected",
                    extra={"reservation_id": str(settled), "account_id": str(account_id)},
                )

    async def account_removed(
        self,
        event_id: uuid.UUID,
        *,
        workspace_id: uuid.UUID,
        account_id: uuid.UUID,
        identity: Identity,
        removed_at: datetime,
    ) -> None:
        """Frees the slot. No workspace lock: a concurrent `reserve` that still counts the
        account only errs on the safe side, refusing rather than over-granting."""
        async with self.sessions() as session, session.begin():
            if not await first_delivery(session, consumer=self.consumer, event_id=event_id):
                return
            await BillingRepository(session).remove_account(
                workspace_id, account_id, identity, removed_at
            )
