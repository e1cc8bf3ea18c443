"""Billing-gate's persistence: one repository over one session (the caller owns commit/rollback).

Every change to what a workspace occupies (a counted account, a held slot) happens under that
workspace's row lock, so "count, then grant" is atomic across every replica. Every time that
matters (creation, expiry, settling) is the database's clock, never a replica's: replicas with
skewed clocks still agree on which reservations are open.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from psycopg.errors import LockNotAvailable
from sqlalchemy import DateTime, and_, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from billing_gate.adapters.port import AbstractBillingRepository, Snapshot
from billing_gate.adapters.tables import (
    billing_accounts,
    billing_reservations,
    billing_workspaces,
)
from billing_gate.domain.accounts import Identity, counts
from billing_gate.domain.errors import WorkspaceBusyError
from billing_gate.domain.reservations import Reservation

__all__ = ["BillingRepository"]

_R = billing_reservations.c
_A = billing_accounts.c
_W = billing_workspaces.c


def _db_now() -> Any:
    return func.clock_timestamp(type_=DateTime(timezone=True))


# The hot path of every decision, as literal SQL: building the equivalent Core statement per call
# costs more Python time than the query takes in PostgreSQL. Columns match `tables.py`.
# An account counts unless its newest removal is at least as new as its newest connect
# (`domain.accounts.counts`). `accounts` is the shared aggregate (read only): a reconnect of an
# account the connector already holds is known even while this projection lags the events.
_SNAPSHOT_SQL = """
SELECT
  (SELECT plan FROM billing_workspaces WHERE workspace_id = :ws) AS plan,
  (SELECT count(*) FROM billing_accounts
    WHERE workspace_id = :ws AND (removed_at IS NULL OR connected_at > removed_at)) AS used,
  (SELECT count(*) FROM billing_reservations
    WHERE workspace_id = :ws AND confirmed_at IS NULL AND released_at IS NULL
      AND expires_at > clock_timestamp()) AS reserved,
  {known} AS known
"""
_SNAPSHOT = text(_SNAPSHOT_SQL.format(known="false"))
_SNAPSHOT_WITH_IDENTITY = text(
    _SNAPSHOT_SQL.format(
        known="""EXISTS (SELECT 1 FROM billing_accounts
    WHERE workspace_id = :ws AND platform = :platform AND platform_account_id = :pid
      AND (removed_at IS NULL OR connected_at > removed_at))
  OR EXISTS (SELECT 1 FROM accounts
    WHERE workspace_id = :ws AND platform = :platform AND platform_account_id = :pid)"""
    )
)

_ADD_RESERVATION = text("""
INSERT INTO billing_reservations
  (id, workspace_id, platform, platform_account_id, created_at, expires_at)
SELECT CAST(:id AS uuid), CAST(:ws AS uuid), CAST(:platform AS text), CAST(:pid AS text),
  db.t, db.t + make_interval(secs => CAST(:ttl_s AS double precision))
FROM (SELECT clock_timestamp() AS t) AS db
RETURNING *, clock_timestamp() AS read_at
""")


def _open() -> Any:
    return and_(_R.confirmed_at.is_(None), _R.released_at.is_(None), _R.expires_at > _db_now())


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
        read_at=row.read_at,
    )


class BillingRepository(AbstractBillingRepository):
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- workspaces -------------------------------------------------------------------------

    async def lock_workspace(
        self, workspace_id: uuid.UUID, *, timeout_ms: int | None = None
    ) -> None:
        """Take the workspace's row lock (creating the row on first sight) until commit.

        With `timeout_ms`, wait at most that long: a caller has a budget of its own (the
        client's, 0.5 s by default), and waiting longer would only let the server commit a
        grant after the caller gave up, holding a pool connection meanwhile. A lock not had in
        time raises `WorkspaceBusyError`; the transaction is then unusable and rolls back.
        """
        try:
            if timeout_ms is not None:
                await self.session.execute(
                    text("SELECT set_config('lock_timeout', :ms, true)"),
                    {"ms": f"{timeout_ms}ms"},
                )
            locked = (
                select(_W.workspace_id).where(_W.workspace_id == workspace_id).with_for_update()
            )
            if (await self.session.execute(locked)).first() is not None:
                return
            await self.session.execute(
                insert(billing_workspaces)
                .values(workspace_id=workspace_id)
                .on_conflict_do_nothing()
            )
            await self.session.execute(locked)
        except DBAPIError as exc:
            if isinstance(exc.orig, LockNotAvailable):
                raise WorkspaceBusyError(workspace_id) from exc
            raise

    async def set_plan(
        self, workspace_id: uuid.UUID, plan: str, changed_at: datetime | None
    ) -> bool:
        """Record `plan` unless a change at least as new is already recorded; True if applied.

        The newest `changed_at` wins whatever order the changes arrive in; None means now, by
        the database's clock.
        """
        stmt = insert(billing_workspaces).values(
            workspace_id=workspace_id,
            plan=plan,
            plan_changed_at=changed_at if changed_at is not None else _db_now(),
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=[_W.workspace_id],
            set_={"plan": stmt.excluded.plan, "plan_changed_at": stmt.excluded.plan_changed_at},
            where=or_(
                _W.plan_changed_at.is_(None), _W.plan_changed_at < stmt.excluded.plan_changed_at
            ),
        ).returning(_W.workspace_id)
        return (await self.session.execute(upsert)).first() is not None

    async def snapshot(self, workspace_id: uuid.UUID, identity: Identity | None = None) -> Snapshot:
        params: dict[str, Any] = {"ws": workspace_id}
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
        self,
        workspace_id: uuid.UUID,
        account_id: uuid.UUID,
        identity: Identity,
        connected_at: datetime | None = None,
    ) -> bool:
        """Record a connect; True only if the account did not count before and counts now.

        `connected_at` is the event's time (None from a confirm, which carries none). The newest
        connect time is kept, so a connect newer than the account's removal counts it again,
        and an older one (delivered late) changes nothing.
        """
        inserted = await self.session.execute(
            insert(billing_accounts)
            .values(
                workspace_id=workspace_id,
                account_id=account_id,
                platform=identity.platform,
                platform_account_id=identity.platform_account_id,
                connected_at=connected_at,
            )
            .on_conflict_do_nothing()
            .returning(_A.account_id)
        )
        if inserted.first() is not None:
            return True
        key = and_(_A.workspace_id == workspace_id, _A.account_id == account_id)
        row = (
            await self.session.execute(
                select(_A.connected_at, _A.removed_at).where(key).with_for_update()
            )
        ).one()
        before = counts(row.connected_at, row.removed_at)
        newest = row.connected_at
        if connected_at is not None and (newest is None or connected_at > newest):
            newest = connected_at
            await self.session.execute(
                update(billing_accounts).where(key).values(connected_at=newest)
            )
        return not before and counts(newest, row.removed_at)

    async def remove_account(
        self,
        workspace_id: uuid.UUID,
        account_id: uuid.UUID,
        identity: Identity,
        removed_at: datetime,
    ) -> None:
        """Record a removal, seen or not: a connect older than the newest removal cannot count."""
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
                # GREATEST ignores NULL: the newest removal time is kept.
                set_={"removed_at": func.greatest(_A.removed_at, stmt.excluded.removed_at)},
            )
        )

    # -- reservations -----------------------------------------------------------------------

    async def add_reservation(
        self,
        reservation_id: uuid.UUID,
        workspace_id: uuid.UUID,
        identity: Identity | None,
        ttl: timedelta,
    ) -> Reservation:
        """A pending reservation created and timed by the database's clock."""
        row = (
            await self.session.execute(
                _ADD_RESERVATION,
                {
                    "id": reservation_id,
                    "ws": workspace_id,
                    "platform": identity.platform if identity else None,
                    "pid": identity.platform_account_id if identity else None,
                    "ttl_s": ttl.total_seconds(),
                },
            )
        ).one()
        return _reservation(row)

    async def get_reservation(self, reservation_id: uuid.UUID) -> Reservation | None:
        row = (
            await self.session.execute(
                select(billing_reservations, _db_now().label("read_at")).where(
                    _R.id == reservation_id
                )
            )
        ).first()
        return _reservation(row) if row is not None else None

    async def open_reservation_for(
        self, workspace_id: uuid.UUID, identity: Identity
    ) -> Reservation | None:
        row = (
            await self.session.execute(
                select(billing_reservations, _db_now().label("read_at"))
                .where(
                    _R.workspace_id == workspace_id,
                    _R.platform == identity.platform,
                    _R.platform_account_id == identity.platform_account_id,
                    _open(),
                )
                .order_by(_R.created_at)
                .limit(1)
            )
        ).first()
        return _reservation(row) if row is not None else None

    async def mark_confirmed(
        self, reservation_id: uuid.UUID, account_id: uuid.UUID, identity: Identity
    ) -> None:
        """Close the reservation for `account_id`, keeping the identity it was confirmed with
        (a reservation taken without one learns it here, so a retried confirm needs none)."""
        await self.session.execute(
            update(billing_reservations)
            .where(_R.id == reservation_id)
            .values(
                confirmed_at=_db_now(),
                account_id=account_id,
                platform=func.coalesce(_R.platform, identity.platform),
                platform_account_id=func.coalesce(
                    _R.platform_account_id, identity.platform_account_id
                ),
            )
        )

    async def mark_released(self, reservation_id: uuid.UUID, reason: str) -> None:
        await self.session.execute(
            update(billing_reservations)
            .where(_R.id == reservation_id)
            .values(released_at=_db_now(), release_reason=reason)
        )

    async def settle_for_identity(
        self, workspace_id: uuid.UUID, identity: Identity, account_id: uuid.UUID
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
            .values(confirmed_at=_db_now(), account_id=account_id)
            .returning(_R.id)
        )
        settled_id: uuid.UUID | None = settled.scalar_one_or_none()
        return settled_id

    async def expire_due(self) -> int:
        expired = await self.session.execute(
            update(billing_reservations)
            .where(_R.confirmed_at.is_(None), _R.released_at.is_(None), _R.expires_at <= _db_now())
            .values(released_at=_db_now(), release_reason="expired")
            .returning(_R.id)
        )
        return len(expired.all())

    async def purge_finished(self, retention: timedelta) -> int:
        before = _db_now() - retention
        purged = await self.session.execute(
            delete(billing_reservations)
            .where(or_(_R.confirmed_at < before, _R.released_at < before))
            .returning(_R.id)
        )
        return len(purged.all())
