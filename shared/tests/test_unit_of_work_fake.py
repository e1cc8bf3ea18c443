"""The in-memory unit of work keeps the rules of the SQL one (tested there on PostgreSQL)."""

import uuid

import pytest
from pydantic import SecretStr

from mooring.accounts import Account, AccountExistsError, Credentials, StaleAccountError
from mooring.events import AccountConnected, AccountUpdated, TokenExpiring, utcnow
from mooring.uow import FakeUnitOfWork


def account(ws: uuid.UUID | None = None) -> Account:
    return Account.connect(
        workspace_id=ws or uuid.uuid4(), platform="x", platform_account_id="42",
        credentials=Credentials(access_token=SecretStr("t")),
    )  # fmt: skip


async def test_commit_publishes_what_the_aggregates_raised_and_what_was_emitted() -> None:
    uow = FakeUnitOfWork()
    new = account()
    expiring = TokenExpiring(
        account_id=new.id, workspace_id=new.workspace_id, platform="x", expires_at=utcnow(),
        refreshable=True,
    )  # fmt: skip
    async with uow:
        await uow.accounts.add(new)
        uow.emit(expiring)
        await uow.commit()
    assert [type(e) for e in uow.events()] == [TokenExpiring, AccountConnected]
    assert uow.committed[0].source == "test"
    assert new.events == []  # taken by the commit


async def test_leaving_without_commit_keeps_neither_the_row_nor_the_events() -> None:
    uow = FakeUnitOfWork()
    new = account()
    async with uow:
        await uow.accounts.add(new)
    async with uow:
        assert await uow.accounts.get(new.id) is None
    assert uow.committed == []


async def test_a_stale_save_is_refused_and_the_identity_is_unique() -> None:
    existing = account()
    uow = FakeUnitOfWork([existing])
    async with uow:
        first = await uow.accounts.get(existing.id)
        second = await uow.accounts.get(existing.id)
        assert first is not None
        assert second is not None
        first.set_active(False)
        await uow.accounts.save(first)
        second.set_active(False)
        with pytest.raises(StaleAccountError):
            await uow.accounts.save(second)
        duplicate = account(existing.workspace_id)
        with pytest.raises(AccountExistsError):
            await uow.accounts.add(duplicate)
        await uow.commit()
    assert uow.events(AccountUpdated) != []


async def test_an_event_is_new_to_a_consumer_once() -> None:
    uow = FakeUnitOfWork()
    event_id = uuid.uuid4()
    async with uow:
        assert await uow.first_delivery("g", event_id)
        assert not await uow.first_delivery("g", event_id)
        assert await uow.first_delivery("other", event_id)
    async with uow:  # rolled back: not marked
        assert await uow.first_delivery("g", event_id)
        await uow.commit()
    async with uow:
        assert await uow.first_deliveries("g", [event_id, uuid.uuid4()]) != set()
        assert event_id not in await uow.first_deliveries("g", [event_id])
