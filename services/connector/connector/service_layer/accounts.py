"""The account registry as the API exposes it: list, read, toggle active, remove.

Every change goes through the account aggregate (its methods raise the events) and
`uow.accounts` (row lock, version check); the commit writes the events to the outbox.
Removing deletes the row: no call to the platform, nothing revoked there, and the posts
published with it are not the connector's to touch. A removed account comes back as a new
account (and needs a slot), as billing-gate's rule says.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from connector.domain.errors import NotFoundError
from connector.service_layer.unit_of_work import AbstractConnectorUnitOfWork
from mooring.accounts import Account, AccountStatus
from mooring.accounts.port import AccountCursor

__all__ = ["AccountPage", "AccountRegistry"]


@dataclass(frozen=True)
class AccountPage:
    accounts: Sequence[Account]
    next_cursor: AccountCursor | None


@dataclass(frozen=True)
class AccountRegistry:
    uow: Callable[[], AbstractConnectorUnitOfWork]

    async def page(
        self,
        workspace_id: uuid.UUID,
        *,
        platform: str | None = None,
        status: AccountStatus | None = None,
        active: bool | None = None,
        limit: int = 50,
        after: AccountCursor | None = None,
    ) -> AccountPage:
        async with self.uow() as uow:
            found = await uow.accounts.list_for_workspace(
                workspace_id,
                platform=platform,
                status=status,
                active=active,
                limit=limit + 1,  # one more tells whether a next page exists
                after=after,
            )
        shown = list(found[:limit])
        more = len(found) > limit
        return AccountPage(shown, AccountCursor.after(shown[-1]) if more and shown else None)

    async def get(self, workspace_id: uuid.UUID, account_id: uuid.UUID) -> Account:
        async with self.uow() as uow:
            return _owned(await uow.accounts.get(account_id), workspace_id)

    async def set_active(
        self, workspace_id: uuid.UUID, account_id: uuid.UUID, active: bool
    ) -> Account:
        """`account.updated` only when the flag really changes."""
        async with self.uow() as uow:
            account = _owned(await uow.accounts.get(account_id, lock=True), workspace_id)
            if account.set_active(active):
                await uow.accounts.save(account)
                await uow.commit()
        return account

    async def remove(self, workspace_id: uuid.UUID, account_id: uuid.UUID) -> None:
        """Delete the row; `account.disconnected` with reason `removed` frees the slot."""
        async with self.uow() as uow:
            account = _owned(await uow.accounts.get(account_id, lock=True), workspace_id)
            account.remove()
            await uow.accounts.delete(account)
            await uow.commit()


def _owned(account: Account | None, workspace_id: uuid.UUID) -> Account:
    if account is None or account.workspace_id != workspace_id:
        raise NotFoundError("account")
    return account
