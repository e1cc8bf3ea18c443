"""`get_many`: a batch of accounts in one read, on PostgreSQL and on the fake."""

import uuid

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mooring.accounts import Account, AccountRepository, Credentials
from mooring.testing import make_vault
from mooring.uow import FakeUnitOfWork


def _account(ident: str) -> Account:
    return Account(
        id=uuid.uuid4(),
        workspace_id=uuid.uuid4(),
        platform="x",
        platform_account_id=ident,
        credentials=Credentials(access_token=SecretStr(f"access-{ident}")),
    )


@pytest.mark.integration
async def test_get_many_reads_the_existing_ones_with_their_secrets(engine: AsyncEngine) -> None:
    vault = make_vault()
    stored = [_account(str(n)) for n in range(3)]
    async with AsyncSession(engine) as session, session.begin():
        repository = AccountRepository(session, vault)
        for account in stored:
            await repository.add(account)
    async with AsyncSession(engine) as session:
        repository = AccountRepository(session, vault)
        found = await repository.get_many([stored[0].id, uuid.uuid4(), stored[2].id])
        assert await repository.get_many([]) == []
    assert {a.id for a in found} == {stored[0].id, stored[2].id}
    tokens = {a.credentials.access_token.get_secret_value() for a in found}  # type: ignore[union-attr]
    assert tokens == {"access-0", "access-2"}
    assert all(a.version == 1 for a in found)
    assert {a.id for a in repository.seen} == {stored[0].id, stored[2].id}


async def test_the_fake_answers_get_many_one_id_at_a_time() -> None:
    stored = [_account(str(n)) for n in range(2)]
    uow = FakeUnitOfWork(stored)
    async with uow:
        found = await uow.accounts.get_many([stored[1].id, uuid.uuid4()])
    assert [a.id for a in found] == [stored[1].id]
