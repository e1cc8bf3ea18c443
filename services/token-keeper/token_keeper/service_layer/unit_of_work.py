"""token-keeper's unit of work: the kernel's (accounts, outbox), plus the sweep's read query on
the same transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from mooring.uow import SqlUnitOfWork, UnitOfWork
from token_keeper.adapters.due_accounts import DueAccounts
from token_keeper.adapters.port import AbstractDueAccounts

__all__ = ["AbstractKeeperUnitOfWork", "KeeperUnitOfWork"]


class AbstractKeeperUnitOfWork(UnitOfWork):
    due: AbstractDueAccounts


class KeeperUnitOfWork(SqlUnitOfWork, AbstractKeeperUnitOfWork):
    due: DueAccounts

    def _open_repositories(self, session: AsyncSession) -> None:
        self.due = DueAccounts(session, self._deps.vault)
