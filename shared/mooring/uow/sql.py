"""The unit of work over PostgreSQL: one `AsyncSession`, the outbox and the inbox on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mooring.accounts.model import Account
from mooring.accounts.repository import AccountRepository
from mooring.events.base import Envelope, Event
from mooring.messaging.inbox import first_deliveries, first_delivery
from mooring.messaging.outbox import Outbox
from mooring.uow.base import UnitOfWork
from mooring.vault import Vault

__all__ = ["SqlUnitOfWork", "UnitOfWorkDeps"]


@dataclass(frozen=True)
class UnitOfWorkDeps:
    """What every SQL unit of work is built from; the runtime makes one per process."""

    sessions: async_sessionmaker[AsyncSession]
    outbox: Outbox
    source: str
    vault: Vault | None = None


class SqlUnitOfWork(UnitOfWork):
    """Services with tables of their own subclass it and open their repositories in
    `_open_repositories`, on the same session, so everything commits together."""

    session: AsyncSession

    def __init__(self, deps: UnitOfWorkDeps) -> None:
        super().__init__(deps.source)
        self._deps = deps
        self._accounts: AccountRepository | None = None

    @property
    def accounts(self) -> AccountRepository:
        if self._accounts is None:
            raise RuntimeError(
                "this service has no token vault (MOORING_VAULT_KEYS is empty), so it cannot "
                "read or write accounts"
            )
        return self._accounts

    def _seen_accounts(self) -> Iterable[Account]:
        return self._accounts.seen if self._accounts is not None else ()

    def _open_repositories(self, session: AsyncSession) -> None:
        """Hook: build the service's own repositories on `session`."""

    async def _begin(self) -> None:
        self.session = self._deps.sessions()
        vault = self._deps.vault
        self._accounts = AccountRepository(self.session, vault) if vault else None
        self._open_repositories(self.session)

    async def _publish(self, envelopes: Sequence[Envelope[Event]]) -> None:
        await self._deps.outbox.add(self.session, *envelopes)

    async def _commit(self) -> None:
        await self.session.commit()

    async def _rollback(self) -> None:
        await self.session.rollback()

    async def _close(self) -> None:
        await self.session.close()

    async def first_delivery(
        self, consumer: str, event_id: uuid.UUID, source: str | None = None
    ) -> bool:
        return await first_delivery(
            self.session, consumer=consumer, event_id=event_id, source=source
        )

    async def first_deliveries(
        self,
        consumer: str,
        event_ids: Sequence[uuid.UUID],
        sources: Sequence[str | None] | None = None,
    ) -> set[uuid.UUID]:
        return await first_deliveries(
            self.session, consumer=consumer, event_ids=event_ids, sources=sources
        )
