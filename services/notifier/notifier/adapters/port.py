"""The notifier's persistence ports: what the service layer may ask of its tables.

Three repositories on one transaction (`NotifierUnitOfWork`): incidents and notifications, the
e-mail queue, and the directory (owners, preferences). The SQL implementations are in this
package; `notifier.testing` has in-memory ones for unit tests. Intake methods take and return
whole batches: one statement per step, however many events a Kafka batch holds.
"""

from __future__ import annotations

import abc
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifier.domain.incidents import AccountState, Audience, DeliveryStatus, NotificationDraft
from notifier.domain.kinds import Kind, Template

__all__ = [
    "AbstractDeliveryRepository",
    "AbstractDirectoryRepository",
    "AbstractNotificationRepository",
    "AccountRef",
    "ClaimedDelivery",
    "DeliveryView",
    "DigestWanted",
    "FeedCursor",
    "Finished",
    "NewDelivery",
    "NotificationRow",
    "Owner",
]


@dataclass(frozen=True)
class AccountRef:
    account_id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str


@dataclass(frozen=True)
class NotificationRow:
    id: uuid.UUID
    workspace_id: uuid.UUID
    account_id: uuid.UUID | None
    kind: Kind
    title: str
    body: str
    data: dict[str, Any]
    occurred_at: datetime
    created_at: datetime
    resolved_at: datetime | None = None
    read: bool = False


@dataclass(frozen=True)
class FeedCursor:
    """Where a page of the feed (newest first) ends: the last item's creation time and id."""

    created_at: datetime
    id: uuid.UUID


@dataclass(frozen=True)
class DigestWanted:
    workspace_id: uuid.UUID
    group_key: str
    status: DeliveryStatus
    delay_s: float


@dataclass(frozen=True)
class NewDelivery:
    id: uuid.UUID
    workspace_id: uuid.UUID
    template: Template
    status: DeliveryStatus
    delay_s: float


@dataclass(frozen=True)
class Owner:
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    changed_at: datetime


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery the worker now holds (until its lease ends), with what it needs to send."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    template: Template
    attempts: int  # including this one
    created_at: datetime
    claimed_at: datetime
    recipient: str | None
    notifications: list[NotificationRow]


@dataclass(frozen=True)
class Finished:
    """What an attempt (or a decision not to send) came to, for one claimed delivery."""

    delivery_id: uuid.UUID
    status: DeliveryStatus
    retry_in_s: float | None = None
    code: int | None = None
    error: str | None = None
    recipient: str | None = None


@dataclass(frozen=True)
class DeliveryView:
    id: uuid.UUID
    workspace_id: uuid.UUID
    template: Template
    group_key: str | None
    status: DeliveryStatus
    attempts: int
    not_before: datetime
    last_code: int | None
    last_error: str | None
    recipient: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    notification_ids: list[uuid.UUID]


class AbstractNotificationRepository(abc.ABC):
    # -- intake -----------------------------------------------------------------------------

    @abc.abstractmethod
    async def claim_keys(self, keys: Sequence[str]) -> set[str]:
        """Record `keys`; the ones not seen before (each reported once)."""

    @abc.abstractmethod
    async def lock_accounts(self, refs: Sequence[AccountRef]) -> dict[uuid.UUID, AccountState]:
        """Each account's state, its row created on first sight and locked until commit.

        Rows are locked in account-id order, so two batches never wait on each other in a
        cycle. The open failure's delivery status is read with it.
        """

    @abc.abstractmethod
    async def save_accounts(self, states: Iterable[AccountState]) -> None: ...

    @abc.abstractmethod
    async def add(
        self, drafts: Sequence[NotificationDraft], delivery_ids: Mapping[uuid.UUID, uuid.UUID]
    ) -> None:
        """Insert the drafted notifications (`delivery_ids`: notification → its e-mail)."""

    @abc.abstractmethod
    async def locked(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, NotificationRow]:
        """These notifications, locked until commit (for changing their content)."""

    @abc.abstractmethod
    async def set_content(
        self, notification_id: uuid.UUID, data: dict[str, Any], title: str, body: str
    ) -> None: ...

    @abc.abstractmethod
    async def resolve(self, resolved: Sequence[tuple[uuid.UUID, datetime]]) -> None:
        """Mark failures as resolved (a recovery or a removal) at the given times."""

    # -- the feed ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def page(
        self,
        workspace_id: uuid.UUID,
        user_id: str,
        *,
        limit: int,
        after: FeedCursor | None,
        unread_only: bool,
    ) -> list[NotificationRow]:
        """Newest first, with `read` for this user."""

    @abc.abstractmethod
    async def unread_count(self, workspace_id: uuid.UUID, user_id: str) -> int: ...

    @abc.abstractmethod
    async def get(
        self, workspace_id: uuid.UUID, notification_id: uuid.UUID, user_id: str | None = None
    ) -> NotificationRow | None: ...

    @abc.abstractmethod
    async def mark_read(
        self, workspace_id: uuid.UUID, user_id: str, notification_id: uuid.UUID
    ) -> None: ...

    @abc.abstractmethod
    async def mark_all_read(self, workspace_id: uuid.UUID, user_id: str) -> None:
        """Everything in the workspace up to now is read for this user."""


class AbstractDeliveryRepository(abc.ABC):
    @abc.abstractmethod
    async def open_digests(
        self, wanted: Sequence[DigestWanted]
    ) -> dict[tuple[uuid.UUID, str], uuid.UUID]:
        """The open digest per (workspace, group key), created if none is open; each is locked
        until commit, so the worker cannot claim it while notifications join it."""

    @abc.abstractmethod
    async def add(self, deliveries: Sequence[NewDelivery]) -> None: ...

    @abc.abstractmethod
    async def supersede(self, ids: Sequence[uuid.UUID]) -> None:
        """Withdraw deliveries that have not gone out (held or pending)."""

    @abc.abstractmethod
    async def release_held(self, workspace_ids: Sequence[uuid.UUID] | None = None) -> int:
        """Held mail of workspaces whose owner is now known becomes pending; how many."""

    @abc.abstractmethod
    async def claim(self, limit: int, lease_s: float) -> list[ClaimedDelivery]:
        """Up to `limit` due deliveries (and ones whose lease ran out), skipping rows another
        worker holds; they are `sending` until `lease_s` from now."""

    @abc.abstractmethod
    async def finish(self, finished: Sequence[Finished]) -> None:
        """Record outcomes on claimed deliveries (rows no longer `sending` are left alone)."""

    @abc.abstractmethod
    async def view(
        self,
        *,
        status: DeliveryStatus | None = None,
        workspace_id: uuid.UUID | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[DeliveryView]:
        """Newest first."""

    @abc.abstractmethod
    async def get(self, delivery_id: uuid.UUID) -> DeliveryView | None: ...

    @abc.abstractmethod
    async def retry_failed(self, delivery_id: uuid.UUID) -> bool:
        """A failed delivery becomes pending now; False if it was not failed."""


class AbstractDirectoryRepository(abc.ABC):
    @abc.abstractmethod
    async def set_owner(
        self,
        workspace_id: uuid.UUID,
        user_id: uuid.UUID,
        email: str,
        changed_at: datetime | None,
    ) -> bool:
        """Record the owner unless a change at least as new is recorded; True if applied.
        `changed_at` None means now (the database's clock)."""

    @abc.abstractmethod
    async def owner(self, workspace_id: uuid.UUID) -> Owner | None: ...

    @abc.abstractmethod
    async def audiences(self, workspace_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Audience]:
        """Per workspace: is an owner known, and which kinds they turned e-mail off for."""

    @abc.abstractmethod
    async def preferences(self, workspace_id: uuid.UUID) -> dict[Kind, bool]:
        """E-mail on/off for every kind (no row: on)."""

    @abc.abstractmethod
    async def set_preferences(
        self, workspace_id: uuid.UUID, changes: Mapping[Kind, bool]
    ) -> None: ...
