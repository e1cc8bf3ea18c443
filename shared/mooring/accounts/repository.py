"""The one way to read and change accounts: row locks, a version check, sealed credentials.

A writer loads the row (optionally `FOR UPDATE`), changes the plain `Account`, and calls `save`,
which only updates when the stored version is still the one it read; otherwise it raises
`StaleAccountError` and nothing is overwritten. A reconnect racing a refresh therefore never
resurrects an old token: the loser re-reads and decides again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mooring.accounts.model import Account, AccountStatus, Credentials
from mooring.db.tables import accounts
from mooring.vault import Vault, account_aad

__all__ = ["AccountExistsError", "AccountRepository", "StaleAccountError"]


class StaleAccountError(Exception):
    """Another writer changed the account since it was read; re-read and decide again."""

    def __init__(self, account_id: uuid.UUID, expected_version: int) -> None:
        super().__init__(f"account {account_id} changed since version {expected_version}")
        self.account_id = account_id
        self.expected_version = expected_version


class AccountExistsError(Exception):
    """The workspace already has this platform identity (reconnect it instead of adding)."""


class AccountRepository:
    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._session = session
        self._vault = vault

    async def add(self, account: Account) -> Account:
        values = self._columns(account)
        try:
            async with self._session.begin_nested():
                row = (
                    await self._session.execute(
                        insert(accounts)
                        .values(id=account.id, version=1, **values)
                        .returning(accounts.c.version, accounts.c.created_at)
                    )
                ).one()
        except IntegrityError as exc:
            if "uq_accounts_workspace_id_platform_platform_account_id" in str(exc.orig):
                raise AccountExistsError(
                    f"workspace {account.workspace_id} already has "
                    f"{account.platform} account {account.platform_account_id}"
                ) from None
            raise
        account.version = row.version
        account.created_at = account.updated_at = row.created_at
        return account

    async def get(self, account_id: uuid.UUID, *, lock: bool = False) -> Account | None:
        query = select(accounts).where(accounts.c.id == account_id)
        if lock:
            query = query.with_for_update()
        row = (await self._session.execute(query)).one_or_none()
        return None if row is None else self._load(row)

    async def find_identity(
        self,
        workspace_id: uuid.UUID,
        platform: str,
        platform_account_id: str,
        *,
        lock: bool = False,
    ) -> Account | None:
        query = select(accounts).where(
            accounts.c.workspace_id == workspace_id,
            accounts.c.platform == platform,
            accounts.c.platform_account_id == platform_account_id,
        )
        if lock:
            query = query.with_for_update()
        row = (await self._session.execute(query)).one_or_none()
        return None if row is None else self._load(row)

    async def list_for_workspace(
        self,
        workspace_id: uuid.UUID,
        *,
        platform: str | None = None,
        status: AccountStatus | None = None,
        active: bool | None = None,
    ) -> Sequence[Account]:
        query = select(accounts).where(accounts.c.workspace_id == workspace_id)
        if platform is not None:
            query = query.where(accounts.c.platform == platform)
        if status is not None:
            query = query.where(accounts.c.status == status)
        if active is not None:
            query = query.where(accounts.c.active == active)
        rows = (await self._session.execute(query.order_by(accounts.c.created_at))).all()
        return [self._load(row) for row in rows]

    async def save(self, account: Account) -> Account:
        """Write every field if the stored version is still `account.version`; bump it."""
        row = (
            await self._session.execute(
                update(accounts)
                .where(accounts.c.id == account.id, accounts.c.version == account.version)
                .values(
                    version=accounts.c.version + 1,
                    updated_at=func.now(),
                    **self._columns(account),
                )
                .returning(accounts.c.version, accounts.c.updated_at)
            )
        ).one_or_none()
        if row is None:
            raise StaleAccountError(account.id, account.version)
        account.version, account.updated_at = row.version, row.updated_at
        return account

    async def delete(self, account: Account) -> None:
        result = (
            await self._session.execute(
                accounts.delete()
                .where(accounts.c.id == account.id, accounts.c.version == account.version)
                .returning(accounts.c.id)
            )
        ).one_or_none()
        if result is None:
            raise StaleAccountError(account.id, account.version)

    def _columns(self, account: Account) -> dict[str, Any]:
        return {
            "workspace_id": account.workspace_id,
            "platform": account.platform,
            "platform_account_id": account.platform_account_id,
            "account_type": account.account_type,
            "username": account.username,
            "display_name": account.display_name,
            "avatar_url": account.avatar_url,
            "status": account.status,
            "active": account.active,
            "credentials": self._vault.encrypt(
                account.credentials.to_plaintext(), aad=account_aad(account.id)
            ),
            "token_expires_at": account.token_expires_at,
            "token_issued_at": account.token_issued_at,
            "service_url": account.service_url,
            "refreshed_at": account.refreshed_at,
            "auth_failures": account.auth_failures,
            "last_checked_at": account.last_checked_at,
            "meta": account.meta,
        }

    def _load(self, row: Row[Any]) -> Account:
        m = row._mapping  # noqa: SLF001 - SQLAlchemy's public mapping view
        return Account(
            id=m["id"],
            workspace_id=m["workspace_id"],
            platform=m["platform"],
            platform_account_id=m["platform_account_id"],
            credentials=Credentials.from_plaintext(
                self._vault.decrypt(m["credentials"], aad=account_aad(m["id"]))
            ),
            account_type=m["account_type"],
            username=m["username"],
            display_name=m["display_name"],
            avatar_url=m["avatar_url"],
            status=m["status"],
            active=m["active"],
            version=m["version"],
            token_expires_at=m["token_expires_at"],
            token_issued_at=m["token_issued_at"],
            service_url=m["service_url"],
            refreshed_at=m["refreshed_at"],
            auth_failures=m["auth_failures"],
            last_checked_at=m["last_checked_at"],
            meta=dict(m["meta"]),
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )
