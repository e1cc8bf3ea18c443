"""The recipient directory and e-mail preferences in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import DateTime, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notifier.adapters.port import AbstractDirectoryRepository, Owner
from notifier.adapters.tables import owners, preferences
from notifier.domain.incidents import Audience
from notifier.domain.kinds import KINDS, Kind

__all__ = ["DirectoryRepository"]

_O = owners.c
_P = preferences.c

_AUDIENCES = text("""
SELECT w.workspace_id,
       EXISTS (SELECT 1 FROM notifier_owners o WHERE o.workspace_id = w.workspace_id) AS owner_known,
       ARRAY(SELECT p.kind FROM notifier_preferences p
             WHERE p.workspace_id = w.workspace_id AND NOT p.email) AS email_off
FROM unnest(CAST(:ws AS uuid[])) AS w(workspace_id)
""")


class DirectoryRepository(AbstractDirectoryRepository):
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def set_owner(
        self,
        workspace_id: uuid.UUID,
        user_id: uuid.UUID,
        email: str,
        changed_at: datetime | None,
    ) -> bool:
        """The newest `changed_at` wins whatever order the changes arrive in."""
        stmt = insert(owners).values(
            workspace_id=workspace_id,
            user_id=user_id,
            email=email,
            changed_at=changed_at
            if changed_at is not None
            else func.clock_timestamp(type_=DateTime(timezone=True)),
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=[_O.workspace_id],
            set_={
                "user_id": stmt.excluded.user_id,
                "email": stmt.excluded.email,
                "changed_at": stmt.excluded.changed_at,
            },
            where=or_(_O.changed_at < stmt.excluded.changed_at),
        ).returning(_O.workspace_id)
        return (await self.session.execute(upsert)).first() is not None

    async def owner(self, workspace_id: uuid.UUID) -> Owner | None:
        row = (
            await self.session.execute(select(owners).where(_O.workspace_id == workspace_id))
        ).first()
        if row is None:
            return None
        return Owner(row.workspace_id, row.user_id, row.email, row.changed_at)

    async def audiences(self, workspace_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Audience]:
        if not workspace_ids:
            return {}
        rows = await self.session.execute(_AUDIENCES, {"ws": list(dict.fromkeys(workspace_ids))})
        return {
            row.workspace_id: Audience(
                owner_known=row.owner_known,
                email_off=frozenset(k for k in KINDS if k in row.email_off),
            )
            for row in rows
        }

    async def preferences(self, workspace_id: uuid.UUID) -> dict[Kind, bool]:
        rows = await self.session.execute(
            select(_P.kind, _P.email).where(_P.workspace_id == workspace_id)
        )
        stored = dict(rows.tuples().all())
        return {kind: stored.get(kind, True) for kind in KINDS}

    async def set_preferences(self, workspace_id: uuid.UUID, changes: Mapping[Kind, bool]) -> None:
        if not changes:
            return
        stmt = insert(preferences).values(
            [{"workspace_id": workspace_id, "kind": k, "email": v} for k, v in changes.items()]
        )
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=[_P.workspace_id, _P.kind],
                set_={"email": stmt.excluded.email, "updated_at": func.clock_timestamp()},
            )
        )
