"""The notifier's unit of work: the kernel's, plus its own repositories on the same transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from mooring.uow import SqlUnitOfWork, UnitOfWork
from notifier.adapters.delivery_repository import DeliveryRepository
from notifier.adapters.directory_repository import DirectoryRepository
from notifier.adapters.notification_repository import NotificationRepository
from notifier.adapters.port import (
    AbstractDeliveryRepository,
    AbstractDirectoryRepository,
    AbstractNotificationRepository,
)

__all__ = ["AbstractNotifierUnitOfWork", "NotifierUnitOfWork"]


class AbstractNotifierUnitOfWork(UnitOfWork):
    notifications: AbstractNotificationRepository
    deliveries: AbstractDeliveryRepository
    directory: AbstractDirectoryRepository


class NotifierUnitOfWork(SqlUnitOfWork, AbstractNotifierUnitOfWork):
    notifications: NotificationRepository
    deliveries: DeliveryRepository
    directory: DirectoryRepository

    def _open_repositories(self, session: AsyncSession) -> None:
        self.notifications = NotificationRepository(session)
        self.deliveries = DeliveryRepository(session)
        self.directory = DirectoryRepository(session)
