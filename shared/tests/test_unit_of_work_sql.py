"""The SQL unit of work on PostgreSQL: state, inbox mark and events commit together or not at all."""

import uuid

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.accounts import Account, Credentials
from mooring.db.engine import create_session_factory
from mooring.db.tables import accounts, inbox, outbox
from mooring.messaging.outbox import Outbox
from mooring.testing import make_vault
from mooring.uow import SqlUnitOfWork, UnitOfWorkDeps

pytestmark = pytest.mark.integration


@pytest.fixture
def uow(engine: AsyncEngine) -> SqlUnitOfWork:
    deps = UnitOfWorkDeps(
        sessions=create_session_factory(engine),
        outbox=Outbox("uow-test."),
        source="mooring/uow-test",
        vault=make_vault(),
    )
    return SqlUnitOfWork(deps)


def new_account() -> Account:
    return Account.connect(
        workspace_id=uuid.uuid4(), platform="x", platform_account_id=uuid.uuid4().hex,
        credentials=Credentials(access_token=SecretStr("tok-" + uuid.uuid4().hex)),
    )  # fmt: skip


async def outbox_rows(engine: AsyncEngine, key: uuid.UUID) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.topic).where(outbox.c.key == str(key)).order_by(outbox.c.id)
        )
        return list(rows.scalars())


async def test_commit_writes_the_row_the_inbox_mark_and_the_raised_events_together(
    uow: SqlUnitOfWork, engine: AsyncEngine
) -> None:
    account, handled = new_account(), uuid.uuid4()
    async with uow:
        assert await uow.first_delivery("uow-test", handled)
        await uow.accounts.add(account)
        loaded = await uow.accounts.get(account.id, lock=True)
        assert loaded is not None
        loaded.set_active(False)
        await uow.accounts.save(loaded)
        await uow.commit()
    assert await outbox_rows(engine, account.id) == [
        "uow-test.account.connected",
        "uow-test.account.updated",
    ]
    async with engine.connect() as conn:
        marked = await conn.execute(select(inbox.c.event_id).where(inbox.c.event_id == handled))
        assert marked.scalar_one() == handled


async def test_without_commit_nothing_is_kept_and_no_event_is_published(
    uow: SqlUnitOfWork, engine: AsyncEngine
) -> None:
    account, handled = new_account(), uuid.uuid4()
    async with uow:
        await uow.first_delivery("uow-test", handled)
        await uow.accounts.add(account)
    assert await outbox_rows(engine, account.id) == []
    async with uow:
        assert await uow.accounts.get(account.id) is None
        assert await uow.first_delivery("uow-test", handled)  # not marked either


async def test_a_save_that_changes_no_secret_keeps_the_stored_ciphertext(
    uow: SqlUnitOfWork, engine: AsyncEngine
) -> None:
    account = new_account()
    async with uow:
        await uow.accounts.add(account)
        await uow.commit()

    async def sealed() -> bytes:
        async with engine.connect() as conn:
            row = await conn.execute(
                select(accounts.c.credentials).where(accounts.c.id == account.id)
            )
            value: bytes = row.scalar_one()
            return value

    before = await sealed()
    async with uow:
        loaded = await uow.accounts.get(account.id)
        assert loaded is not None
        loaded.set_active(False)
        await uow.accounts.save(loaded)
        await uow.commit()
    assert await sealed() == before  # same nonce: not sealed again
    async with uow:
        loaded = await uow.accounts.get(account.id)
        assert loaded is not None
        loaded.tokens_refreshed(
            Credentials(access_token=SecretStr("rotated")),
            expires_at=None,
            issued_at=loaded.created_at or loaded.updated_at,  # type: ignore[arg-type]
        )
        await uow.accounts.save(loaded)
        await uow.commit()
    assert await sealed() != before


async def test_a_service_without_vault_keys_says_so_when_it_touches_accounts(
    engine: AsyncEngine,
) -> None:
    deps = UnitOfWorkDeps(sessions=create_session_factory(engine), outbox=Outbox(), source="t")
    async with SqlUnitOfWork(deps) as uow:
        with pytest.raises(RuntimeError, match="MOORING_VAULT_KEYS"):
            await uow.accounts.get(uuid.uuid4())
        uow.emit()  # emitting nothing is fine without a vault
        await uow.commit()
