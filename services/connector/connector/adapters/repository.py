"""The connector's persistence: connect sessions and start windows on one session (the caller
owns commit/rollback). Secrets are sealed with the vault, bound to their row.

The hot statements (count a start, store a session, consume a state) are literal SQL: building
the equivalent Core statement per call costs more Python time than PostgreSQL spends on it.
Columns match `tables.py`. Every time is `clock_timestamp()`, the database's clock.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from connector.adapters.port import AbstractSessionRepository, StartCount, Started
from connector.domain.sessions import (
    ConnectSession,
    NewSession,
    PendingCandidate,
    SessionSecrets,
    StateLookup,
)
from mooring.vault import Vault

__all__ = ["SessionRepository", "session_aad"]


def session_aad(session_id: uuid.UUID) -> str:
    """Associated data binding a session's sealed secrets to its row."""
    return f"connector_session:{session_id}"


_COUNT_START = text("""
INSERT INTO connector_start_windows AS w (workspace_id, window_started_at, starts)
VALUES (:ws, clock_timestamp(), 1)
ON CONFLICT (workspace_id) DO UPDATE SET
  window_started_at = CASE
    WHEN w.window_started_at <= clock_timestamp() - make_interval(secs => :window_s)
    THEN clock_timestamp() ELSE w.window_started_at END,
  starts = CASE
    WHEN w.window_started_at <= clock_timestamp() - make_interval(secs => :window_s)
    THEN 1 ELSE w.starts + 1 END
RETURNING starts, window_started_at, clock_timestamp() AS now
""")

_ADD = text("""
INSERT INTO connector_sessions
  (id, state_digest, workspace_id, user_id, platform, redirect_url, reconnect_account_id,
   service_url, status, sealed, created_at, expires_at, updated_at)
SELECT :id, :digest, :ws, :user_id, :platform, :redirect_url, :reconnect, :service_url,
  'pending', :sealed, db.t, db.t + make_interval(secs => :ttl_s), db.t
FROM (SELECT clock_timestamp() AS t) AS db
RETURNING created_at, expires_at, clock_timestamp() AS read_at
""")

# The start's hot path in one round trip: count the start in the workspace's window, and store
# the session only when the count is within the limit.
_COUNT_AND_ADD = text("""
WITH counted AS (
  INSERT INTO connector_start_windows AS w (workspace_id, window_started_at, starts)
  VALUES (:ws, clock_timestamp(), 1)
  ON CONFLICT (workspace_id) DO UPDATE SET
    window_started_at = CASE
      WHEN w.window_started_at <= clock_timestamp() - make_interval(secs => :window_s)
      THEN clock_timestamp() ELSE w.window_started_at END,
    starts = CASE
      WHEN w.window_started_at <= clock_timestamp() - make_interval(secs => :window_s)
      THEN 1 ELSE w.starts + 1 END
  RETURNING starts, window_started_at, clock_timestamp() AS now
), added AS (
  INSERT INTO connector_sessions
    (id, state_digest, workspace_id, user_id, platform, redirect_url, reconnect_account_id,
     service_url, status, sealed, created_at, expires_at, updated_at)
  SELECT :id, :digest, :ws, :user_id, :platform, :redirect_url, :reconnect, :service_url,
    'pending', :sealed, counted.now, counted.now + make_interval(secs => :ttl_s), counted.now
  FROM counted WHERE counted.starts <= :limit
  RETURNING created_at, expires_at
)
SELECT counted.starts, counted.window_started_at, counted.now,
  added.created_at, added.expires_at
FROM counted LEFT JOIN added ON true
""")

_CONSUME = text("""
UPDATE connector_sessions SET consumed_at = clock_timestamp(), updated_at = clock_timestamp()
WHERE state_digest = :digest AND consumed_at IS NULL
RETURNING *, clock_timestamp() AS read_at
""")

_BY_DIGEST = text("""
SELECT *, clock_timestamp() AS read_at FROM connector_sessions WHERE state_digest = :digest
""")

_GET = text("""
SELECT *, clock_timestamp() AS read_at FROM connector_sessions
WHERE id = :id AND workspace_id = :ws
""")

_CLAIM = text("""
UPDATE connector_sessions SET status = 'completing', updated_at = clock_timestamp()
WHERE id = :id AND workspace_id = :ws AND status = 'selecting'
  AND expires_at > clock_timestamp()
RETURNING *, clock_timestamp() AS read_at
""")

_SAVE = text("""
UPDATE connector_sessions SET status = :status, error = :error,
  candidates = CAST(:candidates AS jsonb), account_ids = CAST(:account_ids AS jsonb),
  sealed = :sealed, updated_at = clock_timestamp()
WHERE id = :id
""")

_WIPE_EXPIRED = text("""
UPDATE connector_sessions SET sealed = NULL, candidates = '[]'::jsonb
WHERE expires_at < clock_timestamp() AND (sealed IS NOT NULL OR candidates <> '[]'::jsonb)
""")

_DELETE_OLD = text("""
DELETE FROM connector_sessions
WHERE expires_at < clock_timestamp() - make_interval(secs => :retention_s)
""")

_DELETE_OLD_WINDOWS = text("""
DELETE FROM connector_start_windows
WHERE window_started_at < clock_timestamp() - make_interval(secs => :retention_s)
""")


class SessionRepository(AbstractSessionRepository):
    def __init__(self, session: AsyncSession, vault: Vault) -> None:
        self._session = session
        self._vault = vault

    async def count_start(self, workspace_id: uuid.UUID, window: timedelta) -> StartCount:
        row = (
            await self._session.execute(
                _COUNT_START, {"ws": workspace_id, "window_s": window.total_seconds()}
            )
        ).one()
        return StartCount(row.starts, row.window_started_at, row.now)

    async def add(self, new: NewSession, ttl: timedelta) -> ConnectSession:
        row = (await self._session.execute(_ADD, self._new_row(new, ttl))).one()
        return _started(new, row.created_at, row.expires_at, row.read_at)

    async def count_and_add(
        self, new: NewSession, ttl: timedelta, *, window: timedelta, limit: int
    ) -> Started:
        params = self._new_row(new, ttl) | {"window_s": window.total_seconds(), "limit": limit}
        row = (await self._session.execute(_COUNT_AND_ADD, params)).one()
        count = StartCount(row.starts, row.window_started_at, row.now)
        if row.created_at is None:
            return Started(count, None)
        return Started(count, _started(new, row.created_at, row.expires_at, row.now))

    def _new_row(self, new: NewSession, ttl: timedelta) -> dict[str, Any]:
        return {
            "id": new.id,
            "digest": new.state_digest,
            "ws": new.workspace_id,
            "user_id": new.user_id,
            "platform": new.platform,
            "redirect_url": new.redirect_url,
            "reconnect": new.reconnect_account_id,
            "service_url": new.service_url,
            "sealed": self._seal(new.id, new.secrets),
            "ttl_s": ttl.total_seconds(),
        }

    async def consume(self, state_digest: bytes) -> StateLookup:
        row = (await self._session.execute(_CONSUME, {"digest": state_digest})).one_or_none()
        if row is not None:
            return StateLookup(self._load(row), consumed_now=True)
        # Used before, or never issued: a replay needs no secrets, so none are opened.
        row = (await self._session.execute(_BY_DIGEST, {"digest": state_digest})).one_or_none()
        if row is None:
            return StateLookup(None, consumed_now=False)
        return StateLookup(self._load(row, with_secrets=False), consumed_now=False)

    async def get(self, session_id: uuid.UUID, workspace_id: uuid.UUID) -> ConnectSession | None:
        row = (
            await self._session.execute(_GET, {"id": session_id, "ws": workspace_id})
        ).one_or_none()
        return None if row is None else self._load(row, with_secrets=False)

    async def claim_selection(
        self, session_id: uuid.UUID, workspace_id: uuid.UUID
    ) -> ConnectSession | None:
        row = (
            await self._session.execute(_CLAIM, {"id": session_id, "ws": workspace_id})
        ).one_or_none()
        return None if row is None else self._load(row)

    async def save(self, session: ConnectSession) -> None:
        await self._session.execute(
            _SAVE,
            {
                "id": session.id,
                "status": session.status,
                "error": session.error,
                "candidates": json.dumps([c.to_json() for c in session.candidates]),
                "account_ids": json.dumps([str(a) for a in session.account_ids]),
                "sealed": self._seal(session.id, session.secrets),
            },
        )

    async def purge(self, retention: timedelta) -> tuple[int, int]:
        wiped = await self._session.execute(_WIPE_EXPIRED)
        deleted = await self._session.execute(
            _DELETE_OLD, {"retention_s": retention.total_seconds()}
        )
        await self._session.execute(
            _DELETE_OLD_WINDOWS, {"retention_s": max(retention.total_seconds(), 86400.0)}
        )
        return _rowcount(wiped), _rowcount(deleted)

    def _seal(self, session_id: uuid.UUID, secrets: SessionSecrets) -> bytes | None:
        if secrets.empty:
            return None
        return self._vault.encrypt(secrets.to_plaintext(), aad=session_aad(session_id))

    def _load(self, row: Any, *, with_secrets: bool = True) -> ConnectSession:
        m = row._mapping  # noqa: SLF001 - SQLAlchemy's public mapping view
        secrets = SessionSecrets()
        if with_secrets and m["sealed"] is not None:
            secrets = SessionSecrets.from_plaintext(
                self._vault.decrypt(bytes(m["sealed"]), aad=session_aad(m["id"]))
            )
        return ConnectSession(
            id=m["id"],
            workspace_id=m["workspace_id"],
            user_id=m["user_id"],
            platform=m["platform"],
            redirect_url=m["redirect_url"],
            status=m["status"],
            created_at=m["created_at"],
            expires_at=m["expires_at"],
            read_at=m["read_at"],
            reconnect_account_id=m["reconnect_account_id"],
            service_url=m["service_url"],
            consumed_at=m["consumed_at"],
            candidates=tuple(PendingCandidate.from_json(c) for c in m["candidates"]),
            account_ids=tuple(uuid.UUID(a) for a in m["account_ids"]),
            error=m["error"],
            secrets=secrets,
        )


def _started(
    new: NewSession, created_at: datetime, expires_at: datetime, read_at: datetime
) -> ConnectSession:
    return ConnectSession(
        id=new.id,
        workspace_id=new.workspace_id,
        user_id=new.user_id,
        platform=new.platform,
        redirect_url=new.redirect_url,
        status="pending",
        created_at=created_at,
        expires_at=expires_at,
        read_at=read_at,
        reconnect_account_id=new.reconnect_account_id,
        service_url=new.service_url,
        secrets=new.secrets,
    )


def _rowcount(result: Any) -> int:
    count = getattr(result, "rowcount", 0)
    return int(count) if isinstance(count, int) and count >= 0 else 0
