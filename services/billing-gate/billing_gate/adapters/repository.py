"""Billing-gate's persistence, in the caller's transaction (the use case owns commit/rollback).

Every change to what a workspace occupies (a counted account, a held slot) happens under that
workspace's row lock, so "count, then grant" is atomic across every replica.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing_gate.adapters.tables import (
    billing_accounts,
    billing_reservations,
    billing_workspaces,
)
from billing_gate.domain.accounts import Identity
from billing_gate.domain.reservations import Reservation

__all__ = ["BillingRepository", "Snapshot"]

_R = billing_reservations.c
_A = billing_accounts.c
_W = billing_workspaces.c


@dataclass(frozen=True)
class Snapshot:
    """What a decision reads, taken in one statement so the counts agree with each other."""

    plan: str | None
    used: int
    reserved: int
    known_identity: bool


# The hot path of every decision, as literal SQL: building the equivalent Core statement per call
# costs more Python time than the query takes in PostgreSQL. Columns match `tables.py`.
_SNAPSHOT_SQL = """
SELECT
  (SELECT plan FROM billing_workspaces WHERE workspace_id = :ws) AS plan,
  (SELECT count(*) FROM billing_accounts
    WHERE workspace_id = :ws AND removed_at IS NULL) AS used,
  (SELECT count(*) FROM billing_reservations
    WHERE workspace_id = :ws AND confirmed_at IS NULL AND released_at IS NULL
      AND expires_at > :now) AS reserved,
  {known} AS known
"""
_SNAPSHOT = text(_SNAPSHOT_SQL.format(known="false"))
_SNAPSHOT_WITH_IDENTITY = text(
    _SNAPSHOT_SQL.format(
        known="EXISTS (SELECT 1 FROM billing_accounts WHERE workspace_id = :ws "
        "AND platform = :platform AND platform_account_id = :pid AND removed_at IS NULL)"
    )
)


def _open(now: datetime) -> Any:
    return and_(_R.confirmed_at.is_(None), _R.released_at.is_(None), _R.expires_at > now)


def _reservation(row: Any) -> Reservation:
    return Reservation(
        id=row.id,
        workspace_id=row.workspace_id,
        platform=row.platform,
        platform_account_id=row.platform_account_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        confirmed_at=row.confirmed_at,
        account_id=row.account_id,
        released_at=row.released_at,
        release_reason=row.release_reason,
    )


class BillingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- workspaces -------------------------------------------------------------------------

    async def lock_workspace(self, workspace_id: uuid.UUID) -> None:
        """Take the workspace's row lock (creating the row on first sight) until commit."""
        locked = select(_W.workspace_id).where(_W.workspace_id == workspace_id).with_for_update()
        if (await self.session.execute(locked)).first() is not None:
            return
        await self.session.execute(
            insert(billing_workspaces).values(workspace_id=workspace_id).on_conflict_do_nothing()
        )
        await self.session.execute(locked)

    async def set_plan(self, workspace_id: uuid.UUID, plan: str, changed_at: datetime) -> bool:
        """Record `plan` unless a change at least as new is already recorded; True if applied.

        The newest `changed_at` wins whatever order the changes arrive in.
        """
        stmt = insert(billing_workspaces).values(
            workspace_id=workspace_id, plan=plan, plan_changed_at=changed_at
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=[_W.workspace_id],
            set_={"plan": stmt.excluded.plan, "plan_changed_at": stmt.excluded.plan_changed_at},
            where=or_(_W.plan_changed_at.is_(None), _W.plan_changed_at < changed_at),
        ).returning(_W.workspace_id)
        return (await self.session.execute(upsert)).first() is not None

    async def snapshot(
        self, workspace_id: uuid.UUID, now: datetime, identity: Identity | None = None
    ) -> Snapshot:
        params: dict[str, Any] = {"ws": workspace_id, "now": now}
        if identity is None:
            stmt = _SNAPSHOT
        else:
            stmt = _SNAPSHOT_WITH_IDENTITY
            params |= {"platform": identity.platform, "pid": identity.platform_account_id}
        row = (await self.session.execute(stmt, params)).one()
        return Snapshot(
            plan=row.plan, used=int(row.used), reserved=int(row.reserved), known_identity=row.known
        )

    # -- counted accounts -------------------------------------------------------------------

    async def count_account(
        self, workspace_id: uuid.UUID, account_id: uuid.UUID, identity: Identity
    ) -> bool:
        """Count a new account; False if it was already counted or already removed (tombstone)."""
        inserted = await self.session.execute(
            insert(billing_accounts)
            .values(
                workspace_id=workspace_id,
                account_id=account_id,
                platform=identity.platform,
                platform_account_id=identity.platform_account_id,
            )
            .on_conflict_do_nothing()
            .returning(_A.account_id)
        )
        return inserted.first() is not None

    async def remove_account(
        self,
        workspace_id: uuid.UUID,
        account_id: uuid.UUID,
        identity: Identity,
        removed_at: datetime,
    ) -> None:
        """Tombstone the account, seen or not: a connect arriving later must not count it."""
        stmt = insert(billing_accounts).values(
            workspace_id=workspace_id,
            account_id=account_id,
            platform=identity.platform,
            platform_account_id=identity.platform_account_id,
            removed_at=removed_at,
        )
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=[_A.workspace_id, _A.account_id],
                set_={"removed_at": func.coalesce(_A.removed_at, stmt.excluded.removed_at)},
            )
        )

    # -- reservations -----------------------------------------------------------------------

    async def add_reservation(self, reservation: Reservation) -> None:
        await self.session.execute(
            insert(billing_reservations).values(
                id=reservation.id,
                workspace_id=reservation.workspace_id,
                platform=reservation.platform,
                platform_account_id=reservation.platform_account_id,
                created_at=reservation.created_at,
                expires_at=reservation.expires_at,
            )
        )

    async def get_reservation(self, reservation_id: uuid.UUID) -> Reservation | None:
        row = (
            await self.session.execute(select(billing_reservations).where(_R.id == reservation_id))
        ).first()
        return _reservation(row) if row is not None else None

    async def open_reservation_for(
        self, workspace_id: uuid.UUID, identity: Identity, now: datetime
    ) -> Reservation | None:
        row = (
            await self.session.execute(
                select(billing_reservations)
                .where(
                    _R.workspace_id == workspace_id,
                    _R.platform == identity.platform,
                    _R.platform_account_id == identity.platform_account_id,
                    _open(now),
                )
                .order_by(_R.created_at)
                .limit(1)
            )
        ).first()
        return _reservation(row) if row is not None else None

    async def mark_confirmed(
        self, reservation_id: uuid.UUID, account_id: uuid.UUID, now: datetime
    ) -> None:
        await self.session.execute(
            update(billing_reservations)
            .where(_R.id == reservation_id)
            .values(confirmed_at=now, account_id=account_id)
        )

    async def mark_released(self, reservation_id: uuid.UUID, now: datetime, reason: str) -> None:
        await self.session.execute(
            update(billing_reservations)
            .where(_R.id == reservation_id)
            .values(released_at=now, release_reason=reason)
        )

    async def settle_for_identity(
        self, workspace_id: uuid.UUID, identity: Identity, account_id: uuid.UUID, now: datetime
    ) -> uuid.UUID | None:
        """Confirm the oldest unsettled reservation held for this identity, expired or not."""
        oldest = (
            select(_R.id)
            .where(
                _R.workspace_id == workspace_id,
                _R.platform == identity.platform,
                _R.platform_account_id == identity.platform_account_id,
                _R.confirmed_at.is_(None),
                or_(_R.released_at.is_(None), _R.release_reason == "expired"),
            )
            .order_by(_R.created_at)
            .limit(1)
            .scalar_subquery()
        )
        settled = await self.session.execute(
            update(billing_reservations)
            .where(_R.id == oldest)
            .values(confirmed_at=now, account_id=account_id)
            .returning(_R.id)
        )
        settled_id: uuid.UUID | None = settled.scalar_one_or_none()
        return settled_id

    async def expire_due(self, now: datetime) -> int:
        expired = await self.session.execute(
            update(billing_reservations)
            .where(_R.confirmed_at.is_(None), _R.released_at.is_(None), _R.expires_at <= now)
            .values(released_at=now, release_reason="expired")
            .returning(_R.id)
        )
        return len(expired.all())

    async def purge_finished(self, before: datetime) -> int:
        purged = await self.session.execute(
            delete(billing_reservations)
            .where(or_(_R.confirmed_at < before, _R.released_at < before))
            .returning(_R.id)
        )
        return len(purged.all())
