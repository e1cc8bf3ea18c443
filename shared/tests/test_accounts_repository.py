import asyncio
import uuid

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mooring.accounts import (
    Account,
    AccountExistsError,
    AccountRepository,
    Credentials,
    StaleAccountError,
)
from mooring.db.tables import accounts
from mooring.testing import make_vault
from mooring.vault import Vault

pytestmark = pytest.mark.integration


def _account(workspace_id: uuid.UUID | None = None, ident: str = "42") -> Account:
    return Account(
        id=uuid.uuid4(),
        workspace_id=workspace_id or uuid.uuid4(),
        platform="x",
        platform_account_id=ident,
        credentials=Credentials(
            access_token=SecretStr("access-AAA"), refresh_token=SecretStr("refresh-RRR")
        ),
        username="ada",
    )


@pytest.fixture(scope="module")
def vault() -> Vault:
    return make_vault()


async def _add(engine: AsyncEngine, vault: Vault, account: Account) -> Account:
    async with AsyncSession(engine) as session, session.begin():
        return await AccountRepository(session, vault).add(account)


async def test_credentials_are_sealed_at_rest_and_open_through_the_repository(
    engine: AsyncEngine, vault: Vault
) -> None:
    account = await _add(engine, vault, _account())
    async with engine.connect() as conn:
        raw = (
            await conn.execute(select(accounts.c.credentials).where(accounts.c.id == account.id))
        ).scalar_one()
    assert b"access-AAA" not in raw
    assert b"refresh-RRR" not in raw
    async with AsyncSession(engine) as session:
        loaded = await AccountRepository(session, vault).get(account.id)
    assert loaded is not None
    assert loaded.credentials.access_token is not None
    assert loaded.credentials.access_token.get_secret_value() == "access-AAA"
    assert "access-AAA" not in repr(loaded)
    assert loaded.version == 1


async def test_one_identity_per_workspace_but_any_number_of_workspaces(
    engine: AsyncEngine, vault: Vault
) -> None:
    first = await _add(engine, vault, _account())
    with pytest.raises(AccountExistsError, match="already has x account 42"):
        await _add(engine, vault, _account(first.workspace_id))
    other_workspace = await _add(engine, vault, _account())
    assert other_workspace.workspace_id != first.workspace_id


async def test_two_concurrent_writers_one_wins_the_other_gets_a_conflict(
    engine: AsyncEngine, vault: Vault
) -> None:
    account = await _add(engine, vault, _account())
    barrier = asyncio.Barrier(2)

    async def writer(token: str) -> str:
        async with AsyncSession(engine) as session:
            repo = AccountRepository(session, vault)
            async with session.begin():
                current = await repo.get(account.id)
            assert current is not None
            await barrier.wait()  # both hold version 1 before either writes
            current.credentials = current.credentials.with_refresh(
                access_token=token, refresh_token=None
            )
            try:
                async with session.begin():
                    await repo.save(current)
            except StaleAccountError:
                return "conflict"
            return "saved"

    outcomes = await asyncio.gather(writer("from-refresh"), writer("from-reconnect"))
    assert sorted(outcomes) == ["conflict", "saved"]
    async with AsyncSession(engine) as session:
        stored = await AccountRepository(session, vault).get(account.id)
    assert stored is not None
    assert stored.version == 2
    winner = "from-refresh" if outcomes[0] == "saved" else "from-reconnect"
    assert stored.credentials.access_token is not None
    assert stored.credentials.access_token.get_secret_value() == winner
    # The refresh token was kept: nothing is lost, and an empty one never overwrote it.
    assert stored.credentials.refresh_token is not None
    assert stored.credentials.refresh_token.get_secret_value() == "refresh-RRR"


async def test_a_locked_reader_waits_for_the_writer_and_sees_its_version(
    engine: AsyncEngine, vault: Vault
) -> None:
    account = await _add(engine, vault, _account())
    async with AsyncSession(engine) as first, first.begin():
        locked = await AccountRepository(first, vault).get(account.id, lock=True)
        assert locked is not None

        async def second_writer() -> int:
            async with AsyncSession(engine) as second, second.begin():
                mine = await AccountRepository(second, vault).get(account.id, lock=True)
                assert mine is not None
                mine.active = False
                return (await AccountRepository(second, vault).save(mine)).version

        waiting = asyncio.create_task(second_writer())
        await asyncio.sleep(0.3)
        assert not waiting.done()  # blocked on the row lock
        locked.username = "renamed"
        await AccountRepository(first, vault).save(locked)
    assert await waiting == 3
    async with AsyncSession(engine) as session:
        stored = await AccountRepository(session, vault).get(account.id)
    assert stored is not None
    assert (stored.username, stored.active) == ("renamed", False)


async def test_delete_with_a_stale_version_is_refused(engine: AsyncEngine, vault: Vault) -> None:
    account = await _add(engine, vault, _account())
    async with AsyncSession(engine) as session, session.begin():
        repo = AccountRepository(session, vault)
        fresh = await repo.get(account.id)
        assert fresh is not None
        fresh.active = False
        await repo.save(fresh)
    async with AsyncSession(engine) as session:
        with pytest.raises(StaleAccountError):
            async with session.begin():
                await AccountRepository(session, vault).delete(account)  # still version 1
