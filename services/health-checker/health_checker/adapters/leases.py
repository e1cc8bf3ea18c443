"""Platform turns: at most one process works a platform's check batches at a time.

A turn is a PostgreSQL session-level advisory lock on a connection of this process's own, held
while the process works the platform and released when it lets the turn go. If the process
dies, its connection dies and every turn it held is free at once: no lease to time out, and
no second worker while the first still sends requests. Within the process a set of held
platforms stands in front of the lock (session locks are re-entrant, so two tasks of one
process would both "get" it).

If the connection itself is lost (a database restart), the locks are gone and another replica
may take the platforms: `check()` raises then, and the worker stops its platform tasks before
their next batch. Between the loss and that check a platform may briefly be worked twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from health_checker.adapters.port import AbstractPlatformTurns

__all__ = ["LeaseLostError", "PlatformTurns"]

_LOCK_CLASS = 0x68636B  # "hck": the first key of every platform turn's advisory lock


class LeaseLostError(RuntimeError):
    """The connection holding the turns is gone; so are the turns."""


class PlatformTurns(AbstractPlatformTurns):
    def __init__(self, libpq_url: str) -> None:
        self._url = libpq_url
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._held: set[str] = set()
        self._lock = asyncio.Lock()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            if self._held:
                self._held.clear()
                raise LeaseLostError("the connection holding the platform turns was lost")
            self._conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        return self._conn

    async def try_take(self, platform: str) -> bool:
        """Take the platform's turn if no process holds it."""
        async with self._lock:
            if platform in self._held:
                return False
            conn = await self._connection()
            row = await (
                await conn.execute(
                    "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (_LOCK_CLASS, platform)
                )
            ).fetchone()
            if row is None or not row[0]:
                return False
            self._held.add(platform)
            return True

    async def give_back(self, platform: str) -> None:
        async with self._lock:
            if platform not in self._held:
                return
            self._held.discard(platform)
            if self._conn is None or self._conn.closed:
                return
            try:
                await self._conn.execute(
                    "SELECT pg_advisory_unlock(%s, hashtext(%s))", (_LOCK_CLASS, platform)
                )
            except psycopg.Error:
                await self._drop()

    async def check(self) -> None:
        """Raise `LeaseLostError` if the turns this process holds may have been lost."""
        async with self._lock:
            if not self._held:
                return
            try:
                conn = await self._connection()
                await conn.execute("SELECT 1")
            except psycopg.Error as exc:
                self._held.clear()
                await self._drop()
                raise LeaseLostError("the connection holding the platform turns failed") from exc

    async def close(self) -> None:
        async with self._lock:
            self._held.clear()
            await self._drop()

    async def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()
