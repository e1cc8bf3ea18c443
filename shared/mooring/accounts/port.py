"""The account repository's port: what a service layer may do with accounts.

`AccountRepository` (PostgreSQL) and `FakeAccountRepository` (memory, for unit tests) both
implement it, so a fake cannot drift from the real one. Every account the repository hands out
or takes in is remembered in `seen`, so the unit of work can collect the events they raised.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mooring.accounts.model import Account, AccountStatus

__all__ = [
    "AbstractAccountRepository",
    "AccountCursor",
    "AccountExistsError",
    "StaleAccountError",
]


@dataclass(frozen=True)
class AccountCursor:
    """Where a page of accounts ended: the last one's creation time and id (a total order)."""

    created_at: datetime
    account_id: uuid.UUID

    @classmethod
    def after(cls, account: Account) -> AccountCursor:
        if account.created_at is None:
            raise ValueError("an account that was never stored has no place in a page")
        return cls(account.created_at, account.id)


class StaleAccountError(Exception):
    """Another writer changed the account since it was read; re-read and decide again."""

    def __init__(self, account_id: uuid.UUID, expected_version: int) -> None:
        super().__init__(f"account {account_id} changed since version {expected_version}")
        self.account_id = account_id
        self.expected_version = expected_version


class AccountExistsError(Exception):
    """The workspace already has this platform identity (reconnect it instead of adding)."""


class AbstractAccountRepository(abc.ABC):
    def __init__(self) -> None:
        # Every object handed out or taken in; two reads of one row are two objects, and the
        # events raised on either must be published.
        self.seen: list[Account] = []

    def _track(self, account: Account | None) -> Account | None:
        if account is not None and not any(a is account for a in self.seen):
            self.seen.append(account)
        return account

    async def add(self, account: Account) -> Account:
        """Insert a new account (version 1); `AccountExistsError` if the identity is taken."""
        stored = await self._add(account)
        self._track(stored)
        return stored

    async def get(self, account_id: uuid.UUID, *, lock: bool = False) -> Account | None:
        """The account, or None; `lock=True` holds its row lock until the transaction ends."""
        return self._track(await self._get(account_id, lock=lock))

    async def get_many(self, account_ids: Sequence[uuid.UUID]) -> list[Account]:
        """The accounts among `account_ids` that exist, unlocked, in no particular order: a batch
        job reads its page in one round trip where the store allows it."""
        found = list(await self._get_many(account_ids))
        for account in found:
            self._track(account)
        return found

    async def find_identity(
        self,
        workspace_id: uuid.UUID,
        platform: str,
        platform_account_id: str,
        *,
        lock: bool = False,
    ) -> Account | None:
        return self._track(
            await self._find_identity(workspace_id, platform, platform_account_id, lock=lock)
        )

    async def save(self, account: Account) -> Account:
        """Write the account if its stored version is still `account.version`; bump it.

        `StaleAccountError` otherwise: nothing is overwritten, the caller re-reads.
        """
        saved = await self._save(account)
        self._track(saved)
        return saved

    async def delete(self, account: Account) -> None:
        """Delete the row if still at `account.version` (`StaleAccountError` otherwise)."""
        await self._delete(account)
        self._track(account)

    async def list_for_workspace(
        self,
        workspace_id: uuid.UUID,
        *,
        platform: str | None = None,
        status: AccountStatus | None = None,
        active: bool | None = None,
        limit: int | None = None,
        after: AccountCursor | None = None,
    ) -> Sequence[Account]:
        """The workspace's accounts, oldest first; `after` continues a page (keyset)."""
        found = await self._list(
            workspace_id, platform=platform, status=status, active=active, limit=limit, after=after
        )
        for account in found:
            self._track(account)
        return found

    @abc.abstractmethod
    async def _list(
        self,
        workspace_id: uuid.UUID,
        *,
        platform: str | None,
        status: AccountStatus | None,
        active: bool | None,
        limit: int | None,
        after: AccountCursor | None,
    ) -> Sequence[Account]: ...

    @abc.abstractmethod
    async def _add(self, account: Account) -> Account: ...

    @abc.abstractmethod
    async def _get(self, account_id: uuid.UUID, *, lock: bool) -> Account | None: ...

    async def _get_many(self, account_ids: Sequence[uuid.UUID]) -> Sequence[Account]:
        # A store without a bulk read answers one id at a time.
        found = [await self._get(account_id, lock=False) for account_id in account_ids]
        return [account for account in found if account is not None]

    @abc.abstractmethod
    async def _find_identity(
        self, workspace_id: uuid.UUID, platform: str, platform_account_id: str, *, lock: bool
    ) -> Account | None: ...

    @abc.abstractmethod
    async def _save(self, account: Account) -> Account: ...

    @abc.abstractmethod
    async def _delete(self, account: Account) -> None: ...
