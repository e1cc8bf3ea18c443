"""The notifier's refusals, turned into problem details at the HTTP edge."""

from __future__ import annotations

import uuid

__all__ = [
    "DeliveryNotFoundError",
    "DeliveryNotRetryableError",
    "IncidentConflictError",
    "NotificationNotFoundError",
]


class NotificationNotFoundError(LookupError):
    def __init__(self, notification_id: uuid.UUID) -> None:
        super().__init__(f"no notification {notification_id} in this workspace")


class DeliveryNotFoundError(LookupError):
    def __init__(self, delivery_id: uuid.UUID) -> None:
        super().__init__(f"no delivery {delivery_id}")


class DeliveryNotRetryableError(ValueError):
    def __init__(self, delivery_id: uuid.UUID, status: str) -> None:
        super().__init__(f"delivery {delivery_id} is {status}; only a failed one can be retried")
        self.status = status


class IncidentConflictError(RuntimeError):
    """An incident key the account's state said was new is already taken: the state and the
    keys disagree (a table edited by hand?). Nothing is written; the batch is retried and, if
    it persists, dead-lettered for an operator, rather than notifying twice."""

    def __init__(self, keys: list[str]) -> None:
        super().__init__(f"incident keys already taken: {', '.join(sorted(keys)[:5])}")
