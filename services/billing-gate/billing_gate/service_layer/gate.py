"""The gate's use cases: usage, decisions, reservations and plan changes.

Reads for an early answer take no lock; anything that grants or settles a slot runs under the
workspace's row lock, so N concurrent requests at `limit - 1` admit exactly one, across replicas.
The lock is waited for only briefly (`lock_timeout_ms`): a caller that has given up must not be
granted a slot afterwards. Every time is the database's clock.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from billing_gate.adapters.port import AbstractBillingRepository, Snapshot
from billing_gate.domain.accounts import Identity
from billing_gate.domain.decisions import Decision, DeploymentMode, decide
from billing_gate.domain.errors import (
    FuturePlanChangeError,
    IdentityRequiredError,
    ReservationConflictError,
    ReservationNotFoundError,
)
from billing_gate.domain.plans import PlanCatalogue
from billing_gate.domain.reservations import Reservation, check_confirmable, check_releasable
from billing_gate.domain.usage import Usage, usage_of
from billing_gate.service_layer.unit_of_work import AbstractBillingUnitOfWork

__all__ = ["BillingGate", "PlanChange", "ReservationOutcome", "apply_plan_change"]


@dataclass(frozen=True)
class ReservationOutcome:
    """`reservation` is None when no slot is needed (reconnect, uncapped) or none was granted.

    `created` is False when an earlier reservation was handed back (a retried request).
    """

    decision: Decision
    reservation: Reservation | None
    created: bool


@dataclass(frozen=True)
class PlanChange:
    applied: bool
    usage: Usage


@dataclass(frozen=True, kw_only=True)
class BillingGate:
    uow: Callable[[], AbstractBillingUnitOfWork]
    catalogue: PlanCatalogue
    mode: DeploymentMode
    reservation_ttl: timedelta
    lock_timeout_ms: int = 300
    plan_change_skew: timedelta = timedelta(minutes=5)

    async def usage(self, workspace_id: uuid.UUID) -> Usage:
        async with self.uow() as uow:
            snap = await uow.billing.snapshot(workspace_id)
        return self._usage(snap)

    async def decision(self, workspace_id: uuid.UUID, identity: Identity | None = None) -> Decision:
        """The early answer when a connect starts; holds nothing."""
        async with self.uow() as uow:
            snap = await uow.billing.snapshot(workspace_id, identity)
        return self._decide(snap)

    async def reserve(
        self,
        workspace_id: uuid.UUID,
        identity: Identity | None = None,
        *,
        reservation_id: uuid.UUID | None = None,
        ttl: timedelta | None = None,
    ) -> ReservationOutcome:
        """Hold one slot for a connect in progress, atomically against every other caller.

        A caller-chosen `reservation_id` makes a retried request return the same reservation,
        and only that one: another flow's reservation for the same identity is never handed out.
        """
        async with self._locked(workspace_id) as repo:
            earlier = await self._earlier(repo, workspace_id, identity, reservation_id)
            decision = self._decide(await repo.snapshot(workspace_id, identity))
            if earlier is not None:
                # The slot is already this caller's: whatever the counts say now, it holds.
                held = replace(decision, allowed=True, upgrade_to=None)
                return ReservationOutcome(held, earlier, created=False)
            if not decision.needs_slot:
                return ReservationOutcome(decision, None, created=False)
            reservation = await repo.add_reservation(
                reservation_id or uuid.uuid4(),
                workspace_id,
                identity,
                min(ttl or self.reservation_ttl, self.reservation_ttl),
            )
            granted = replace(decision, reserved=decision.reserved + 1)
            return ReservationOutcome(granted, reservation, created=True)

    async def confirm(
        self,
        workspace_id: uuid.UUID,
        reservation_id: uuid.UUID,
        *,
        account_id: uuid.UUID,
        identity: Identity | None = None,
    ) -> Reservation:
        """The connect created `account_id`: count it now and close the reservation.

        Counting here (not only when account.connected arrives) closes the window in which the
        slot would be neither reserved nor used; the event later finds the account counted. The
        account is counted even when the reservation is already confirmed (the account exists
        either way); a reservation confirmed for another account is a conflict.
        """
        conflict: ReservationConflictError | None = None
        async with self._locked(workspace_id) as repo:
            reservation = await self._owned(repo, workspace_id, reservation_id)
            open_ = check_confirmable(reservation)  # a released one raises: nothing counted
            who = identity or _identity_of(reservation)
            if who is None:
                raise IdentityRequiredError(reservation_id)
            await repo.count_account(workspace_id, account_id, who)
            if open_:
                await repo.mark_confirmed(reservation_id, account_id, who)
                reservation = await self._owned(repo, workspace_id, reservation_id)
            elif reservation.account_id != account_id:
                conflict = ReservationConflictError(
                    reservation_id, "confirmed", account_id=reservation.account_id
                )
        if conflict is not None:  # raised after the commit: the account stays counted
            raise conflict
        return reservation

    async def release(self, workspace_id: uuid.UUID, reservation_id: uuid.UUID) -> Reservation:
        """The connect was abandoned: give the slot back (idempotent)."""
        async with self._locked(workspace_id) as repo:
            reservation = await self._owned(repo, workspace_id, reservation_id)
            if check_releasable(reservation):
                await repo.mark_released(reservation_id, "released")
                reservation = await self._owned(repo, workspace_id, reservation_id)
            return reservation

    async def reservation(self, workspace_id: uuid.UUID, reservation_id: uuid.UUID) -> Reservation:
        async with self.uow() as uow:
            return await self._owned(uow.billing, workspace_id, reservation_id)

    async def change_plan(
        self, workspace_id: uuid.UUID, plan: str, changed_at: datetime | None = None
    ) -> PlanChange:
        """Apply a plan change in a transaction of its own (the HTTP route)."""
        async with self.uow() as uow:
            applied = await apply_plan_change(
                uow, self.catalogue, workspace_id, plan, changed_at, skew=self.plan_change_skew
            )
            snap = await uow.billing.snapshot(workspace_id)
            await uow.commit()
        return PlanChange(applied=applied, usage=self._usage(snap))

    # -- helpers ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _locked(self, workspace_id: uuid.UUID) -> AsyncIterator[AbstractBillingRepository]:
        """One transaction holding the workspace's lock (waited for `lock_timeout_ms` at most),
        committed when the block ends without an error."""
        async with self.uow() as uow:
            await uow.billing.lock_workspace(workspace_id, timeout_ms=self.lock_timeout_ms)
            yield uow.billing
            await uow.commit()

    def _decide(self, snap: Snapshot) -> Decision:
        return decide(
            self.catalogue,
            self.mode,
            plan=self.catalogue.effective(snap.plan),
            used=snap.used,
            reserved=snap.reserved,
            known_identity=snap.known_identity,
        )

    def _usage(self, snap: Snapshot) -> Usage:
        plan = self.catalogue.effective(snap.plan)
        return usage_of(
            self.catalogue, self.mode, plan=plan, used=snap.used, reserved=snap.reserved
        )

    @staticmethod
    async def _owned(
        repo: AbstractBillingRepository, workspace_id: uuid.UUID, reservation_id: uuid.UUID
    ) -> Reservation:
        reservation = await repo.get_reservation(reservation_id)
        if reservation is None or reservation.workspace_id != workspace_id:
            raise ReservationNotFoundError(reservation_id)
        return reservation

    @staticmethod
    async def _earlier(
        repo: AbstractBillingRepository,
        workspace_id: uuid.UUID,
        identity: Identity | None,
        reservation_id: uuid.UUID | None,
    ) -> Reservation | None:
        """A reservation this request already holds.

        With a caller-chosen id, only that reservation (None when it does not exist yet: the
        caller gets a new one under that id). Without one, a pending reservation for the same
        identity (a retry of a caller that chose no id).
        """
        if reservation_id is not None:
            existing = await repo.get_reservation(reservation_id)
            if existing is None:
                return None
            if existing.workspace_id != workspace_id:
                raise ReservationNotFoundError(reservation_id)
            if existing.state() == "pending":
                return existing
            raise ReservationConflictError(reservation_id, existing.state())
        if identity is not None:
            return await repo.open_reservation_for(workspace_id, identity)
        return None


async def apply_plan_change(
    uow: AbstractBillingUnitOfWork,
    catalogue: PlanCatalogue,
    workspace_id: uuid.UUID,
    plan: str,
    changed_at: datetime | None,
    *,
    skew: timedelta,
    now: datetime | None = None,
) -> bool:
    """Record a plan change unless a newer one is already recorded (None: now, by the store's
    clock); True if applied. The caller commits.

    A downgrade below usage removes nothing: the counts stay, and `decide` refuses new accounts
    until the workspace is under the new cap. A change dated further ahead than `skew` is
    refused: the newest date wins, so it would freeze the plan until then.
    """
    known = catalogue.get(plan)  # unknown plans are refused, never stored
    if changed_at is not None and changed_at > (now or datetime.now(UTC)) + skew:
        raise FuturePlanChangeError(changed_at, skew)
    return await uow.billing.set_plan(workspace_id, known.name, changed_at)


def _identity_of(reservation: Reservation) -> Identity | None:
    return Identity.from_parts(reservation.platform, reservation.platform_account_id)
