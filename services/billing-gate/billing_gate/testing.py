"""In-memory billing store and unit of work: the service layer tested without PostgreSQL.

`FakeBillingRepository` implements the same port as `BillingRepository`, with a clock the test
moves (`now`) standing in for the database's. `FakeBillingUnitOfWork` adds it to the kernel's
`FakeUnitOfWork`: a transaction's billing writes are undone on rollback, and identities the
shared `accounts` table holds are known to decisions, as in SQL.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from billing_gate.adapters.port import AbstractBillingRepository, Snapshot
from billing_gate.domain.accounts import Identity, counts
from billing_gate.domain.reservations import Reservation
from billing_gate.service_layer.unit_of_work import AbstractBillingUnitOfWork
from mooring.accounts import Account
from mooring.uow import FakeAccountRepository, FakeUnitOfWork

__all__ = ["FakeBillingRepository", "FakeBillingUnitOfWork"]


@dataclass
class _Counted:
    identity: Identity
    connected_at: datetime | None
    removed_at: datetime | None = None


class FakeBillingRepository(AbstractBillingRepository):
    def __init__(self, accounts: FakeAccountRepository) -> None:
        self.now = datetime.now(UTC)
        self._accounts = accounts
        self.plans: dict[uuid.UUID, tuple[str | None, datetime | None]] = {}
        self.counted: dict[tuple[uuid.UUID, uuid.UUID], _Counted] = {}
        self.reservations: dict[uuid.UUID, Reservation] = {}

    def state(self) -> Any:
        return copy.deepcopy((self.plans, self.counted, self.reservations))

    def restore(self, state: Any) -> None:
        self.plans, self.counted, self.reservations = state

    def _open(self, r: Reservation) -> bool:
        return r.confirmed_at is None and r.released_at is None and r.expires_at > self.now

    async def lock_workspace(
        self,
        workspace_id: uuid.UUID,
        *,
        timeout_ms: int | None = None,  # noqa: ARG002 - one task at a time: never busy
    ) -> None:
        self.plans.setdefault(workspace_id, (None, None))

    async def set_plan(
        self, workspace_id: uuid.UUID, plan: str, changed_at: datetime | None
    ) -> bool:
        when = changed_at or self.now
        _, known = self.plans.get(workspace_id, (None, None))
        if known is not None and known >= when:
            return False
        self.plans[workspace_id] = (plan, when)
        return True

    async def snapshot(self, workspace_id: uuid.UUID, identity: Identity | None = None) -> Snapshot:
        live = [c for (ws, _), c in self.counted.items() if ws == workspace_id]
        live = [c for c in live if counts(c.connected_at, c.removed_at)]
        known = identity is not None and (
            any(c.identity == identity for c in live)
            or any(
                (a.workspace_id, a.platform, a.platform_account_id)
                == (workspace_id, identity.platform, identity.platform_account_id)
                for a in self._accounts.rows.values()
            )
        )
        return Snapshot(
            plan=self.plans.get(workspace_id, (None, None))[0],
            used=len(live),
            reserved=sum(
                1
                for r in self.reservations.values()
                if r.workspace_id == workspace_id and self._open(r)
            ),
            known_identity=known,
        )

    async def count_account(
        self,
        workspace_id: uuid.UUID,
        account_id: uuid.UUID,
        identity: Identity,
        connected_at: datetime | None = None,
    ) -> bool:
        row = self.counted.get((workspace_id, account_id))
        if row is None:
            self.counted[workspace_id, account_id] = _Counted(identity, connected_at)
            return True
        before = counts(row.connected_at, row.removed_at)
        if connected_at is not None and (
            row.connected_at is None or connected_at > row.connected_at
        ):
            row.connected_at = connected_at
        return not before and counts(row.connected_at, row.removed_at)

    async def remove_account(
        self,
        workspace_id: uuid.UUID,
        account_id: uuid.UUID,
        identity: Identity,
        removed_at: datetime,
    ) -> None:
        row = self.counted.setdefault((workspace_id, account_id), _Counted(identity, None))
        row.removed_at = max(filter(None, (row.removed_at, removed_at)))

    async def add_reservation(
        self,
        reservation_id: uuid.UUID,
        workspace_id: uuid.UUID,
        identity: Identity | None,
        ttl: timedelta,
    ) -> Reservation:
        reservation = Reservation(
            id=reservation_id,
            workspace_id=workspace_id,
            platform=identity.platform if identity else None,
            platform_account_id=identity.platform_account_id if identity else None,
            created_at=self.now,
            expires_at=self.now + ttl,
            read_at=self.now,
        )
        self.reservations[reservation_id] = reservation
        return reservation

    async def get_reservation(self, reservation_id: uuid.UUID) -> Reservation | None:
        found = self.reservations.get(reservation_id)
        return None if found is None else replace(found, read_at=self.now)

    async def open_reservation_for(
        self, workspace_id: uuid.UUID, identity: Identity
    ) -> Reservation | None:
        held = [
            r
            for r in self.reservations.values()
            if r.workspace_id == workspace_id
            and (r.platform, r.platform_account_id)
            == (identity.platform, identity.platform_account_id)
            and self._open(r)
        ]
        return replace(min(held, key=lambda r: r.created_at), read_at=self.now) if held else None

    async def mark_confirmed(
        self, reservation_id: uuid.UUID, account_id: uuid.UUID, identity: Identity
    ) -> None:
        r = self.reservations[reservation_id]
        self.reservations[reservation_id] = replace(
            r,
            confirmed_at=self.now,
            account_id=account_id,
            platform=r.platform or identity.platform,
            platform_account_id=r.platform_account_id or identity.platform_account_id,
        )

    async def mark_released(self, reservation_id: uuid.UUID, reason: str) -> None:
        r = self.reservations[reservation_id]
        self.reservations[reservation_id] = replace(r, released_at=self.now, release_reason=reason)

    async def settle_for_identity(
        self, workspace_id: uuid.UUID, identity: Identity, account_id: uuid.UUID
    ) -> uuid.UUID | None:
        candidates = [
            r
            for r in self.reservations.values()
            if r.workspace_id == workspace_id
            and (r.platform, r.platform_account_id)
            == (identity.platform, identity.platform_account_id)
            and r.confirmed_at is None
            and (r.released_at is None or r.release_reason == "expired")
        ]
        if not candidates:
            return None
        oldest = min(candidates, key=lambda r: r.created_at)
        self.reservations[oldest.id] = replace(oldest, confirmed_at=self.now, account_id=account_id)
        return oldest.id

    async def expire_due(self) -> int:
        due = [
            r
            for r in self.reservations.values()
            if r.confirmed_at is None and r.released_at is None and r.expires_at <= self.now
        ]
        for r in due:
            self.reservations[r.id] = replace(r, released_at=self.now, release_reason="expired")
        return len(due)

    async def purge_finished(self, retention: timedelta) -> int:
        before = self.now - retention
        gone = [
            r.id
            for r in self.reservations.values()
            if (r.confirmed_at is not None and r.confirmed_at < before)
            or (r.released_at is not None and r.released_at < before)
        ]
        for reservation_id in gone:
            del self.reservations[reservation_id]
        return len(gone)


class FakeBillingUnitOfWork(FakeUnitOfWork, AbstractBillingUnitOfWork):
    """Pass `accounts` for rows the shared accounts table already holds (reconnects)."""

    billing: FakeBillingRepository

    def __init__(self, accounts: list[Account] | None = None) -> None:
        super().__init__(accounts or [], source="billing-gate-test")
        self.billing = FakeBillingRepository(self.accounts)
        self._saved: Any = None

    async def _begin(self) -> None:
        await super()._begin()
        self._saved = self.billing.state()

    async def _rollback(self) -> None:
        await super()._rollback()
        if self._saved is not None:
            self.billing.restore(self._saved)
            self._saved = None

    async def _commit(self) -> None:
        await super()._commit()
        self._saved = self.billing.state()
