"""Usage as a projection of account events, right under duplicated and re-ordered delivery.

Usage is the set of live account ids per workspace, never a bare counter. Each account keeps its
newest connect time and its newest removal time, and the newer one wins: a duplicate connect
changes nothing, a removal that overtakes its connect is not undone by the late connect, a
removal seen twice finds itself, and a connect made after a removal counts the account again.
The runtime's inbox skips exact duplicates before any of that runs; the caller commits.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from billing_gate.domain.accounts import Identity, frees_slot
from billing_gate.service_layer.unit_of_work import AbstractBillingUnitOfWork

__all__ = ["count_connected", "forget_removed"]

logger = logging.getLogger(__name__)


async def count_connected(
    uow: AbstractBillingUnitOfWork,
    *,
    workspace_id: uuid.UUID,
    account_id: uuid.UUID,
    identity: Identity,
    connected_at: datetime,
) -> None:
    """Count the account, new or reconnected (a no-op for one already counted).

    A reconnect is counted too: if its first connect was never seen, nothing else would count
    it. Only an account this event newly counts settles a reservation, the oldest one held for
    its identity (a confirm that was lost). An event that counts nothing settles nothing: a late
    connect of a removed account must not close a newer flow's reservation. Reservations taken
    without an identity are never settled here, only by their confirm or their expiry.
    """
    # Lock first: counting the account and closing its reservation must look like one step to
    # a concurrent `reserve`, or it could see neither and grant a slot too many.
    await uow.billing.lock_workspace(workspace_id)
    if not await uow.billing.count_account(workspace_id, account_id, identity, connected_at):
        return
    settled = await uow.billing.settle_for_identity(workspace_id, identity, account_id)
    if settled is not None:
        logger.info(
            "reservation settled by account.connected",
            extra={"reservation_id": str(settled), "account_id": str(account_id)},
        )


async def forget_removed(
    uow: AbstractBillingUnitOfWork,
    *,
    workspace_id: uuid.UUID,
    account_id: uuid.UUID,
    identity: Identity,
    reason: str,
    disconnected_at: datetime,
) -> None:
    """A removal frees the slot; a lost token keeps the account, and its slot with it.

    No workspace lock: a concurrent `reserve` that still counts the account only errs on the
    safe side, refusing rather than over-granting.
    """
    if frees_slot(reason):
        await uow.billing.remove_account(workspace_id, account_id, identity, disconnected_at)
