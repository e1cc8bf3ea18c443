"""The health-checker's unit of work: the kernel's (accounts, outbox, inbox) plus its own
repositories on the same transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from health_checker.adapters.check_repository import CheckRepository
from health_checker.adapters.delivery_repository import DeliveryRepository
from health_checker.adapters.port import AbstractCheckRepository, AbstractDeliveryRepository
from mooring.uow import SqlUnitOfWork, UnitOfWork

__all__ = ["AbstractHealthUnitOfWork", "HealthUnitOfWork"]


class AbstractHealthUnitOfWork(UnitOfWork):
    checks: AbstractCheckRepository
    deliveries: AbstractDeliveryRepository


class HealthUnitOfWork(SqlUnitOfWork, AbstractHealthUnitOfWork):
    checks: CheckRepository
    deliveries: DeliveryRepository

    def _open_repositories(self, session: AsyncSession) -> None:
        self.checks = CheckRepository(session)
        self.deliveries = DeliveryRepository(session)
