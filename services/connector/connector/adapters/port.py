"""The connector's persistence port: what the service layer may ask of its own tables.

`SessionRepository` (PostgreSQL) and `connector.testing.FakeSessionRepository` implement it.
Every time that matters (creation, expiry, the start window) is the store's own clock (the
database's in production), so replicas with skewed clocks agree on which states are alive.
"""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from connector.domain.sessions import ConnectSession, NewSession, StateLookup

__all__ = ["AbstractSessionRepository", "StartCount", "Started"]


@dataclass(frozen=True)
class StartCount:
    """The workspace's starts in its current window, this one included."""

    count: int
    window_started_at: datetime
    now: datetime


@dataclass(frozen=True)
class Started:
    """A counted start, and its session unless the count went past `limit` (then none)."""

    count: StartCount
    session: ConnectSession | None


class AbstractSessionRepository(abc.ABC):
    @abc.abstractmethod
    async def count_start(self, workspace_id: uuid.UUID, window: timedelta) -> StartCount:
        """Count one more connect start for the workspace (a new window when the last ended)."""

    @abc.abstractmethod
    async def add(self, new: NewSession, ttl: timedelta) -> ConnectSession:
        """Store a started session, expiring `ttl` from now."""

    @abc.abstractmethod
    async def count_and_add(
        self, new: NewSession, ttl: timedelta, *, window: timedelta, limit: int
    ) -> Started:
        """`count_start` and, within `limit`, `add`: one statement, the hot path of a start."""

    @abc.abstractmethod
    async def consume(self, state_digest: bytes) -> StateLookup:
        """Mark the state used (once); the session it names, and whether this call used it."""

    @abc.abstractmethod
    async def get(self, session_id: uuid.UUID, workspace_id: uuid.UUID) -> ConnectSession | None:
        """The session, only if it belongs to the workspace."""

    @abc.abstractmethod
    async def claim_selection(
        self, session_id: uuid.UUID, workspace_id: uuid.UUID
    ) -> ConnectSession | None:
        """Move an unexpired `selecting` session to `completing` (one caller wins); None when
        it is not selectable now."""

    @abc.abstractmethod
    async def save(self, session: ConnectSession) -> None:
        """Write status, candidates, accounts, error and secrets."""

    @abc.abstractmethod
    async def purge(self, retention: timedelta) -> tuple[int, int]:
        """Drop the secrets of expired sessions, and sessions expired longer than `retention`
        ago; (sessions wiped, sessions deleted)."""
