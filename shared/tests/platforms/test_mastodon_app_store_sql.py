"""The Mastodon app cache on the real PostgreSQL: one registration per instance, secret sealed."""

import asyncio

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.db.tables import platform_apps
from mooring.platforms import MastodonApp, SqlMastodonAppStore
from mooring.testing import make_vault, unique
from mooring.vault import DecryptionError

pytestmark = pytest.mark.integration


async def test_registrations_are_cached_sealed_and_the_first_writer_wins(
    engine: AsyncEngine,
) -> None:
    vault = make_vault()
    store = SqlMastodonAppStore(engine, vault)
    instance = f"https://{unique('mastodon')}.example"
    assert await store.get(instance) is None

    racing = await asyncio.gather(
        store.put(instance, MastodonApp("id-a", SecretStr("secret-a"))),
        store.put(instance, MastodonApp("id-b", SecretStr("secret-b"))),
    )
    assert racing[0].client_id == racing[1].client_id  # both replicas use the stored one
    stored = await store.get(instance)
    assert stored is not None
    assert stored.client_id == racing[0].client_id
    assert stored.client_secret.get_secret_value() in {"secret-a", "secret-b"}
    assert "secret-" not in repr(stored)

    async with engine.connect() as conn:
        sealed = (
            await conn.execute(
                select(platform_apps.c.client_secret_ciphertext).where(
                    platform_apps.c.instance == instance
                )
            )
        ).scalar_one()
    assert b"secret-" not in sealed
    with pytest.raises(DecryptionError):  # bound to this instance: useless for another
        vault.decrypt(sealed, aad="platform_app:mastodon:https://other.example")

    await store.forget(instance)
    assert await store.get(instance) is None
