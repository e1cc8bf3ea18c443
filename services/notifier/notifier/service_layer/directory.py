"""Who hears about a workspace (its owner) and which e-mails they want.

The owner comes from `workspace.owner_changed` (or the internal route): the newest `changed_at`
wins whatever order the changes arrive in. Mail that waited for an owner (`held`) is released
when one becomes known, in the same transaction; a periodic sweep releases what a concurrent
batch held while this ran (see `HeldMailSweeper`).

Preferences belong to the workspace (the owner's e-mail settings for it) and are kept when the
owner changes: the new owner inherits them and can change them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from notifier.adapters.port import Owner
from notifier.domain.kinds import Kind
from notifier.service_layer.unit_of_work import AbstractNotifierUnitOfWork

__all__ = ["Directory", "OwnerChange", "change_owner"]


@dataclass(frozen=True)
class OwnerChange:
    applied: bool
    owner: Owner | None
    released: int


async def change_owner(
    uow: AbstractNotifierUnitOfWork,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    email: str,
    changed_at: datetime | None,
) -> OwnerChange:
    """Record the owner (unless a newer change is known) and release the mail that waited."""
    applied = await uow.directory.set_owner(workspace_id, user_id, email, changed_at)
    released = await uow.deliveries.release_held([workspace_id])
    return OwnerChange(applied, await uow.directory.owner(workspace_id), released)


@dataclass(frozen=True)
class Directory:
    uow: Callable[[], AbstractNotifierUnitOfWork]

    async def change_owner(
        self,
        workspace_id: uuid.UUID,
        user_id: uuid.UUID,
        email: str,
        changed_at: datetime | None = None,
    ) -> OwnerChange:
        async with self.uow() as uow:
            change = await change_owner(uow, workspace_id, user_id, email, changed_at)
            await uow.commit()
        return change

    async def owner(self, workspace_id: uuid.UUID) -> Owner | None:
        async with self.uow() as uow:
            return await uow.directory.owner(workspace_id)

    async def preferences(self, workspace_id: uuid.UUID) -> dict[Kind, bool]:
        async with self.uow() as uow:
            return await uow.directory.preferences(workspace_id)

    async def change_preferences(
        self, workspace_id: uuid.UUID, changes: Mapping[Kind, bool]
    ) -> dict[Kind, bool]:
        """Apply `changes` (kinds not named keep their setting); the settings now."""
        async with self.uow() as uow:
            await uow.directory.set_preferences(workspace_id, changes)
            current = await uow.directory.preferences(workspace_id)
            await uow.commit()
        return current
