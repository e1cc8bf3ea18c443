"""In-memory unit of work and account repository: service layers tested without PostgreSQL.

They implement the same ports as the SQL versions and keep their rules: writes become visible
only on commit, a save with a stale version raises `StaleAccountError`, an identity is unique
per workspace, and a consumer sees an event id once. What a test asserts on: `committed`
(every envelope published by a commit, in order) and `commits`.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from mooring.accounts.model import Account, AccountStatus
from mooring.accounts.port import (
    AbstractAccountRepository,
    AccountCursor,
    AccountExistsError,
    StaleAccountError,
)
from mooring.events.base import Envelope, Event
from mooring.uow.base import UnitOfWork

__all__ = ["FakeAccountRepository", "FakeUnitOfWork"]


class FakeAccountRepository(AbstractAccountRepository):
    """Rows live in `rows` once committed; a transaction's writes wait in `_pending`."""

    def __init__(self, accounts: Sequence[Account] = ()) -> None:
        super().__init__()
        self.rows: dict[uuid.UUID, Account] = {}
        self._pending: dict[uuid.UUID, Account | None] = {}  # None: deleted
        for account in accounts:
            stored = copy.deepcopy(account)
            stored.version = stored.version or 1
            stored.created_at = stored.created_at or datetime.now(UTC)
            stored.events = []
            self.rows[stored.id] = stored

    def begin(self) -> None:
        self._pending.clear()
        self.seen = []

    def commit(self) -> None:
        for account_id, account in self._pending.items():
            if account is None:
                self.rows.pop(account_id, None)
            else:
                self.rows[account_id] = account
        self._pending.clear()

    def rollback(self) -> None:
        self._pending.clear()

    def _visible(self) -> dict[uuid.UUID, Account]:
        merged = dict(self.rows)
        for account_id, account in self._pending.items():
            if account is None:
                merged.pop(account_id, None)
            else:
                merged[account_id] = account
        return merged

    @staticmethod
    def _copy(account: Account) -> Account:
        loaded = copy.deepcopy(account)
        loaded.events = []
        return loaded

    async def _add(self, account: Account) -> Account:
        for other in self._visible().values():
            if (other.workspace_id, other.platform, other.platform_account_id) == (
                account.workspace_id,
                account.platform,
                account.platform_account_id,
            ):
                raise AccountExistsError(
                    f"workspace {account.workspace_id} already has "
                    f"{account.platform} account {account.platform_account_id}"
                )
        account.version = 1
        account.created_at = account.updated_at = datetime.now(UTC)
        self._pending[account.id] = self._copy(account)
        return account

    # Locks are meaningless in one process without concurrency; the signature is the port's.
    async def _get(self, account_id: uuid.UUID, *, lock: bool) -> Account | None:  # noqa: ARG002
        found = self._visible().get(account_id)
        return None if found is None else self._copy(found)

    async def _find_identity(
        self,
        workspace_id: uuid.UUID,
        platform: str,
        platform_account_id: str,
        *,
        lock: bool,  # noqa: ARG002
    ) -> Account | None:
        for account in self._visible().values():
            if (account.workspace_id, account.platform, account.platform_account_id) == (
                workspace_id,
                platform,
                platform_account_id,
            ):
                return self._copy(account)
        return None

    async def _list(
        self,
        workspace_id: uuid.UUID,
        *,
        platform: str | None,
        status: AccountStatus | None,
        active: bool | None,
        limit: int | None,
        after: AccountCursor | None,
    ) -> Sequence[Account]:
        found = [
            a
            for a in self._visible().values()
            if a.workspace_id == workspace_id
            and (platform is None or a.platform == platform)
            and (status is None or a.status == status)
            and (active is None or a.active == active)
        ]
        found.sort(key=lambda a: (a.created_at or datetime.min.replace(tzinfo=UTC), a.id))
        if after is not None:
            found = [
                a for a in found if (a.created_at, a.id) > (after.created_at, after.account_id)
            ]
        return [self._copy(a) for a in found[:limit]]

    async def _save(self, account: Account) -> Account:
        stored = self._visible().get(account.id)
        if stored is None or stored.version != account.version:
            raise StaleAccountError(account.id, account.version)
        account.version += 1
        account.updated_at = datetime.now(UTC)
        self._pending[account.id] = self._copy(account)
        return account

    async def _delete(self, account: Account) -> None:
        stored = self._visible().get(account.id)
        if stored is None or stored.version != account.version:
            raise StaleAccountError(account.id, account.version)
        self._pending[account.id] = None


class FakeUnitOfWork(UnitOfWork):
    """One object for a whole test: each `async with` is a new transaction on the same data."""

    def __init__(self, accounts: Sequence[Account] = (), *, source: str = "test") -> None:
        super().__init__(source)
        self._accounts = FakeAccountRepository(accounts)
        self.committed: list[Envelope[Event]] = []
        self.commits = 0
        self._inbox: set[tuple[str, uuid.UUID]] = set()
        self._pending_inbox: set[tuple[str, uuid.UUID]] = set()
        self._pending_events: list[Envelope[Event]] = []

    @property
    def accounts(self) -> FakeAccountRepository:
        return self._accounts

    def events(self, kind: type[Event] | None = None) -> list[Event]:
        """The committed payloads, optionally of one type only."""
        return [e.payload for e in self.committed if kind is None or isinstance(e.payload, kind)]

    async def _begin(self) -> None:
        self._accounts.begin()
        self._pending_inbox.clear()
        self._pending_events.clear()

    async def _publish(self, envelopes: Sequence[Envelope[Event]]) -> None:
        self._pending_events.extend(envelopes)

    async def _commit(self) -> None:
        self._accounts.commit()
        self._inbox |= self._pending_inbox
        self.committed.extend(self._pending_events)
        self._pending_inbox.clear()
        self._pending_events.clear()
        self.commits += 1

    async def _rollback(self) -> None:
        self._accounts.rollback()
        self._pending_inbox.clear()
        self._pending_events.clear()

    async def first_delivery(
        self, consumer: str, event_id: uuid.UUID, source: str | None = None
    ) -> bool:
        return bool(await self.first_deliveries(consumer, [event_id], [source]))

    async def first_deliveries(
        self,
        consumer: str,
        event_ids: Sequence[uuid.UUID],
        sources: Sequence[str | None] | None = None,  # noqa: ARG002 - only the SQL one keeps them
    ) -> set[uuid.UUID]:
        fresh = set()
        for event_id in event_ids:
            key = (consumer, event_id)
            if key not in self._inbox and key not in self._pending_inbox:
                self._pending_inbox.add(key)
                fresh.add(event_id)
        return fresh
