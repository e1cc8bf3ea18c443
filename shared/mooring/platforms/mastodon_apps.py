"""Where Mastodon app registrations live: one client per instance, registered once, reused.

`MastodonAppStore` is the port; `InMemoryMastodonAppStore` serves tests and single-process
use, `SqlMastodonAppStore` the services (table `platform_apps`, created by the migrations). The
SQL store keeps the client secret encrypted with the instance as associated data, so a
ciphertext copied to another instance's row does not decrypt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.db.tables import platform_apps
from mooring.vault import platform_app_aad

__all__ = [
    "InMemoryMastodonAppStore",
    "MastodonApp",
    "MastodonAppStore",
    "SecretCipher",
    "SqlMastodonAppStore",
]


@dataclass(frozen=True, slots=True)
class MastodonApp:
    client_id: str
    client_secret: SecretStr


class MastodonAppStore(Protocol):
    async def get(self, instance: str) -> MastodonApp | None: ...

    async def put(self, instance: str, app: MastodonApp) -> MastodonApp:
        """Store `app` unless one is already stored; return the one that is stored.

        Two replicas registering at once both succeed at the instance, and both then use the
        first registration that reached the store.
        """
        ...

    async def forget(self, instance: str) -> None:
        """Drop a registration the instance no longer knows (`invalid_client`)."""
        ...


@dataclass
class InMemoryMastodonAppStore:
    apps: dict[str, MastodonApp] = field(default_factory=dict)

    async def get(self, instance: str) -> MastodonApp | None:
        return self.apps.get(instance)

    async def put(self, instance: str, app: MastodonApp) -> MastodonApp:
        return self.apps.setdefault(instance, app)

    async def forget(self, instance: str) -> None:
        self.apps.pop(instance, None)


class SecretCipher(Protocol):
    """What the store needs from `mooring.vault.Vault`."""

    def encrypt(self, plaintext: str, *, aad: str) -> bytes: ...

    def decrypt(self, ciphertext: bytes, *, aad: str) -> str: ...


_PLATFORM = "mastodon"


def _aad(instance: str) -> str:
    return platform_app_aad(_PLATFORM, instance)


class SqlMastodonAppStore:
    def __init__(self, engine: AsyncEngine, cipher: SecretCipher) -> None:
        self._engine = engine
        self._cipher = cipher

    def _where(self, instance: str) -> sa.ColumnElement[bool]:
        return sa.and_(platform_apps.c.platform == _PLATFORM, platform_apps.c.instance == instance)

    async def get(self, instance: str) -> MastodonApp | None:
        query = sa.select(
            platform_apps.c.client_id, platform_apps.c.client_secret_ciphertext
        ).where(self._where(instance))
        async with self._engine.connect() as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            return None
        secret = self._cipher.decrypt(bytes(row.client_secret_ciphertext), aad=_aad(instance))
        return MastodonApp(client_id=str(row.client_id), client_secret=SecretStr(secret))

    async def put(self, instance: str, app: MastodonApp) -> MastodonApp:
        ciphertext = self._cipher.encrypt(app.client_secret.get_secret_value(), aad=_aad(instance))
        statement = (
            pg_insert(platform_apps)
            .values(
                platform=_PLATFORM,
                instance=instance,
                client_id=app.client_id,
                client_secret_ciphertext=ciphertext,
            )
            .on_conflict_do_nothing(index_elements=["platform", "instance"])
        )
        async with self._engine.begin() as connection:
            await connection.execute(statement)
        return await self.get(instance) or app

    async def forget(self, instance: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(sa.delete(platform_apps).where(self._where(instance)))
