"""The sweep's query over the shared `accounts` table: read-only, keyset pages by id.

The SQL narrows by status and by each platform's widest horizon (the exact rules run in Python,
`domain.windows`, on what it returns): every page is a bounded number of rows, so a sweep never
holds all accounts in memory. Credentials are opened only to learn whether a refresh token is
held (LinkedIn self-serve apps get none and are reminded instead of refreshed); nothing secret
leaves this module.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mooring.accounts.model import Credentials
from mooring.db.tables import accounts
from mooring.platforms.descriptions import DESCRIPTIONS, RefreshModel
from mooring.platforms.registry import get_description
from mooring.vault import DecryptionError, Vault, account_aad
from token_keeper.adapters.port import AbstractDueAccounts, SweepRow
from token_keeper.domain.windows import RefreshRules, TokenFacts

__all__ = ["DueAccounts"]

_NEEDS_REFRESH_TOKEN = (RefreshModel.ROTATING, RefreshModel.NON_ROTATING)
_COLUMNS = (
    accounts.c.id,
    accounts.c.workspace_id,
    accounts.c.platform,
    accounts.c.token_expires_at,
    accounts.c.token_issued_at,
    accounts.c.created_at,
    accounts.c.next_refresh_at,
    accounts.c.meta,
    accounts.c.credentials,
)


def _expiry() -> ColumnElement[Any]:
    """`effective_expiry` in SQL: the stored expiry, else issue time + documented lifetime."""
    lifetimes = [
        (accounts.c.platform == d.identifier, literal(timedelta(seconds=d.token_lifetime_seconds)))
        for d in DESCRIPTIONS
        if d.token_lifetime_seconds is not None
    ]
    issued = func.coalesce(accounts.c.token_issued_at, accounts.c.created_at)
    return func.coalesce(accounts.c.token_expires_at, issued + case(*lifetimes, else_=None))


def _horizon(model: RefreshModel, rules: RefreshRules) -> timedelta:
    if model is RefreshModel.NONE:
        return rules.reminder_horizon
    if model is RefreshModel.EXTEND_IN_PLACE:
        return rules.extend_window
    if model is RefreshModel.SESSION:
        return rules.horizon
    # A refresh-token platform may have accounts without one (reminded, not refreshed).
    return max(rules.horizon, rules.reminder_horizon)


def _within_horizon(now: datetime, rules: RefreshRules) -> ColumnElement[bool]:
    by_horizon: dict[timedelta, list[str]] = {}
    for d in DESCRIPTIONS:
        by_horizon.setdefault(_horizon(d.refresh_model, rules), []).append(d.identifier)
    expiry = _expiry()
    return or_(
        *(
            and_(accounts.c.platform.in_(ids), expiry <= now + horizon)
            for horizon, ids in by_horizon.items()
        )
    )


def _candidates(now: datetime, rules: RefreshRules, *, retries_only: bool) -> ColumnElement[bool]:
    where = and_(accounts.c.status == "connected", _within_horizon(now, rules))
    if retries_only:
        where = and_(where, accounts.c.next_refresh_at <= now)
    return where


class DueAccounts(AbstractDueAccounts):
    def __init__(self, session: AsyncSession, vault: Vault | None) -> None:
        self._session = session
        self._vault = vault

    async def page(
        self,
        *,
        after: uuid.UUID | None,
        limit: int,
        now: datetime,
        rules: RefreshRules,
        retries_only: bool,
    ) -> Sequence[SweepRow]:
        query = select(*_COLUMNS).where(_candidates(now, rules, retries_only=retries_only))
        if after is not None:
            query = query.where(accounts.c.id > after)
        query = query.order_by(accounts.c.id).limit(limit)
        rows = (await self._session.execute(query)).all()
        return [self._row(row._mapping) for row in rows]  # noqa: SLF001 - the public mapping

    async def count(self, *, now: datetime, rules: RefreshRules, retries_only: bool) -> int:
        query = (
            select(func.count())
            .select_from(accounts)
            .where(_candidates(now, rules, retries_only=retries_only))
        )
        return int((await self._session.execute(query)).scalar_one())

    def _row(self, m: Any) -> SweepRow:
        try:
            has_refresh_token = self._has_refresh_token(m["platform"], m["id"], m["credentials"])
            unreadable = False
        except DecryptionError:
            has_refresh_token, unreadable = False, True
        return SweepRow(
            id=m["id"],
            workspace_id=m["workspace_id"],
            facts=TokenFacts(
                platform=m["platform"],
                expires_at=m["token_expires_at"],
                issued_at=m["token_issued_at"] or m["created_at"],
                next_refresh_at=m["next_refresh_at"],
                has_refresh_token=has_refresh_token,
            ),
            meta=dict(m["meta"]),
            unreadable=unreadable,
        )

    def _has_refresh_token(self, platform: str, account_id: uuid.UUID, sealed: bytes) -> bool:
        if get_description(platform).refresh_model not in _NEEDS_REFRESH_TOKEN:
            return False  # not asked by the rules for this model: nothing is opened
        if self._vault is None:
            raise RuntimeError("no token vault configured (MOORING_VAULT_KEYS)")
        plaintext = self._vault.decrypt(sealed, aad=account_aad(account_id))
        return Credentials.from_plaintext(plaintext).refresh_token is not None
