"""The connector's unit of work: the kernel's (accounts, outbox, inbox) plus its session store,
on the same transaction, so an account and the session that made it commit together."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from connector.adapters.port import AbstractSessionRepository
from connector.adapters.repository import SessionRepository
from mooring.uow import SqlUnitOfWork, UnitOfWork

__all__ = ["AbstractConnectorUnitOfWork", "ConnectorUnitOfWork"]


class AbstractConnectorUnitOfWork(UnitOfWork):
    sessions: AbstractSessionRepository


class ConnectorUnitOfWork(SqlUnitOfWork, AbstractConnectorUnitOfWork):
    sessions: SessionRepository

    def _open_repositories(self, session: AsyncSession) -> None:
        vault = self._deps.vault
        if vault is None:  # the runtime refuses to start without keys; this is a unit of
            raise RuntimeError("the connector needs the token vault (MOORING_VAULT_KEYS)")
        self.sessions = SessionRepository(session, vault)
