"""Engine and session factory, built by a service's composition root (never at import time)."""

from __future__ import annotations

import sqlalchemy.ext.asyncio as sa_async
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mooring.settings import DatabaseSettings

__all__ = ["create_engine", "create_session_factory", "ping"]


def create_engine(settings: DatabaseSettings, *, application_name: str) -> AsyncEngine:
    # Looked up at call time: tracing wraps sqlalchemy's factory to instrument every engine.
    return sa_async.create_async_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_pre_ping=True,
        # A failing statement's error must not carry its bound values into logs: they are
        # request input (a NUL byte in a name, a pasted token in the wrong field).
        hide_parameters=True,
        connect_args={
            "application_name": application_name,
            "options": f"-c statement_timeout={settings.statement_timeout_ms}",
        },
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
