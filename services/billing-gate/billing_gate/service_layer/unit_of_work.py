"""Billing-gate's unit of work: the kernel's, plus its own repository on the same transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from billing_gate.adapters.port import AbstractBillingRepository
from billing_gate.adapters.repository import BillingRepository
from mooring.uow import SqlUnitOfWork, UnitOfWork

__all__ = ["AbstractBillingUnitOfWork", "BillingUnitOfWork"]


class AbstractBillingUnitOfWork(UnitOfWork):
    billing: AbstractBillingRepository


class BillingUnitOfWork(SqlUnitOfWork, AbstractBillingUnitOfWork):
    billing: BillingRepository

    def _open_repositories(self, session: AsyncSession) -> None:
        self.billing = BillingRepository(session)
