import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mooring.accounts import Account, AccountRepository, Credentials
from mooring.cli.reencrypt import _left_on_old_keys, reencrypt_all
from mooring.db.engine import create_engine
from mooring.db.migrate import upgrade
from mooring.db.tables import accounts
from mooring.settings import DatabaseSettings, VaultSettings
from mooring.testing import random_vault_settings
from mooring.vault import Vault

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(scratch_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    await asyncio.to_thread(upgrade, scratch_database)  # alembic runs its own event loop
    engine = create_engine(scratch_database, application_name="reencrypt-test")
    yield engine
    await engine.dispose()


async def test_reencrypt_moves_every_row_to_the_current_key(engine: AsyncEngine) -> None:
    old = random_vault_settings("old")
    old_vault = Vault.from_settings(old)
    ids = []
    async with AsyncSession(engine) as session, session.begin():
        repo = AccountRepository(session, old_vault)
        for n in range(5):
            account = Account(
                id=uuid.uuid4(),
                workspace_id=uuid.uuid4(),
                platform="pinterest",
                platform_account_id=str(n),
                credentials=Credentials(access_token=SecretStr(f"tok-{n}")),
            )
            ids.append((await repo.add(account)).id)

    new_key = random_vault_settings("new").keys.get_secret_value()
    rotating = Vault.from_settings(
        VaultSettings(keys=f"{new_key},{old.keys.get_secret_value()}", current_key_id="new")
    )
    seen: list[tuple[int, int]] = []
    report = await reencrypt_all(
        engine, rotating, batch=2, progress=lambda d, t: seen.append((d, t))
    )
    assert (report.accounts_total, report.accounts_rotated) == (5, 5)
    assert report.left_on_old_keys == 0
    assert seen
    assert seen == [(2, 5), (4, 5), (5, 5)]

    new_only = Vault.from_settings(VaultSettings(keys=new_key))
    async with engine.connect() as conn:
        rows = (
            await conn.execute(select(accounts.c.credentials).where(accounts.c.id.in_(ids)))
        ).scalars()
        assert {new_only.key_id_of(c) for c in rows} == {"new"}
    async with AsyncSession(engine) as session:
        for n, account_id in enumerate(ids):
            loaded = await AccountRepository(session, new_only).get(account_id)
            assert loaded is not None
            assert loaded.credentials.access_token is not None
            assert loaded.credentials.access_token.get_secret_value() == f"tok-{n}"
    async with AsyncSession(engine) as session, session.begin():  # a replica still on "old"
        await AccountRepository(session, old_vault).add(
            Account(
                id=uuid.uuid4(),
                workspace_id=uuid.uuid4(),
                platform="pinterest",
                platform_account_id="late",
                credentials=Credentials(access_token=SecretStr("late")),
            )
        )
    assert await _left_on_old_keys(engine, rotating) == 1  # what the command would report
    again = await reencrypt_all(engine, rotating)
    assert again.accounts_rotated == 1
    assert again.left_on_old_keys == 0
    idle = await reencrypt_all(engine, rotating)
    assert idle.accounts_rotated == 0  # idempotent: nothing left on the old key
