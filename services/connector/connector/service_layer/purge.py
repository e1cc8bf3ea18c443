"""Housekeeping of connect sessions: secrets of expired sessions wiped, old sessions deleted.

No answer depends on it: every read judges expiry by the database's clock, so a stalled purge
never revives a state. It only bounds how long sealed tokens of abandoned connects stay at rest
(at most one interval past their expiry) and how big the table grows. Replicas may purge at the
same time; the statements are idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from connector.service_layer.unit_of_work import AbstractConnectorUnitOfWork

__all__ = ["SessionPurge"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class SessionPurge:
    uow: Callable[[], AbstractConnectorUnitOfWork]
    interval_s: float
    retention: timedelta

    async def purge_once(self) -> tuple[int, int]:
        async with self.uow() as uow:
            wiped, deleted = await uow.sessions.purge(self.retention)
            await uow.commit()
        if wiped or deleted:
            logger.info("connect sessions purged", extra={"wiped": wiped, "deleted": deleted})
        return wiped, deleted

    async def run(self) -> None:
        while True:
            try:
                await self.purge_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("session purge failed; the next round retries")
            await asyncio.sleep(self.interval_s)
