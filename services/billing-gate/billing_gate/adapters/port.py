"""Billing-gate's persistence port: what the service layer may ask of its tables.

`BillingRepository` (PostgreSQL) and `billing_gate.testing.FakeBillingRepository` implement it.
Every time that matters is the store's own clock (the database's, in production), so replicas
with skewed clocks agree on which reservations are open.
"""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from billing_gate.domain.accounts import Identity
from billing_gate.domain.reservations import Reservation

__all__ = ["AbstractBillingRepository", "Snapshot"]


@dataclass(frozen=True)
class Snapshot:
    """What a decision reads, taken at once so the counts agree with each other."""

    plan: str | None
    used: int
    reserved: int
    known_identity: bool


class AbstractBillingRepository(abc.ABC):
    @abc.abstractmethod
    async def lock_workspace(
        self, workspace_id: uuid.UUID, *, timeout_ms: int | None = None
    ) -> None:
        """Hold the workspace's lock until the transaction ends; `WorkspaceBusyError` if it is
        not had within `timeout_ms`."""

    @abc.abstractmethod
    async def set_plan(
        self, workspace_id: uuid.UUID, plan: str, changed_at: datetime | None
    ) -> bool:
        """Record `plan` unless a change at least as new is recorded; True if applied."""

    @abc.abstractmethod
    async def snapshot(
        self, workspace_id: uuid.UUID, identity: Identity | None = None
    ) -> Snapshot: ...

    @abc.abstractmethod
    async def count_account(
        self,
        workspace_id: uuid.UUID,
        account_id: uuid.UUID,
        identity: Identity,
        connected_at: datetime | None = None,
    ) -> bool:
        """Record a connect; True only if the account did not count before and counts now."""

    @abc.abstractmethod
    async def remove_account(
        self,
        workspace_id: uuid.UUID,
        account_id: uuid.UUID,
        identity: Identity,
        removed_at: datetime,
    ) -> None: ...

    @abc.abstractmethod
    async def add_reservation(
        self,
        reservation_id: uuid.UUID,
        workspace_id: uuid.UUID,
        identity: Identity | None,
        ttl: timedelta,
    ) -> Reservation: ...

    @abc.abstractmethod
    async def get_reservation(self, reservation_id: uuid.UUID) -> Reservation | None: ...

    @abc.abstractmethod
    async def open_reservation_for(
        self, workspace_id: uuid.UUID, identity: Identity
    ) -> Reservation | None: ...

    @abc.abstractmethod
    async def mark_confirmed(
        self, reservation_id: uuid.UUID, account_id: uuid.UUID, identity: Identity
    ) -> None: ...

    @abc.abstractmethod
    async def mark_released(self, reservation_id: uuid.UUID, reason: str) -> None: ...

    @abc.abstractmethod
    async def settle_for_identity(
        self, workspace_id: uuid.UUID, identity: Identity, account_id: uuid.UUID
    ) -> uuid.UUID | None:
        """Confirm the oldest unsettled reservation held for this identity, expired or not."""

    @abc.abstractmethod
    async def expire_due(self) -> int: ...

    @abc.abstractmethod
    async def purge_finished(self, retention: timedelta) -> int: ...
