"""The session store on the real PostgreSQL: single use under concurrency, sealing, expiry by the
database's clock, the start window, the purge."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from connector.domain.sessions import NewSession, SessionSecrets, new_state, state_digest
from connector.service_layer.unit_of_work import ConnectorUnitOfWork
from mooring.db.engine import create_session_factory
from mooring.messaging.outbox import Outbox
from mooring.platforms.results import TokenSet
from mooring.testing import make_vault
from mooring.uow import UnitOfWorkDeps
from mooring.vault import DecryptionError

pytestmark = pytest.mark.integration

TTL = timedelta(minutes=15)


@pytest.fixture
def uow(engine: AsyncEngine):
    deps = UnitOfWorkDeps(
        sessions=create_session_factory(engine),
        outbox=Outbox(),
        source="connector-test",
        vault=make_vault(),
    )
    return lambda: ConnectorUnitOfWork(deps)


def tokens(value: str) -> TokenSet:
    return TokenSet(access_token=SecretStr(value), issued_at=datetime.now(UTC))


async def started(uow, **fields):
    state = new_state()
    new = NewSession(
        id=uuid.uuid4(),
        state_digest=state_digest(state),
        workspace_id=fields.pop("workspace_id", uuid.uuid4()),
        user_id="u1",
        platform="x",
        redirect_url="http://127.0.0.1/x",
        secrets=fields.pop("secrets", SessionSecrets(code_verifier=SecretStr("verifier-SECRET"))),
        **fields,
    )
    async with uow() as unit:
        session = await unit.sessions.add(new, fields.pop("ttl", TTL))
        await unit.commit()
    return state, session


async def consume(uow, state):
    async with uow() as unit:
        lookup = await unit.sessions.consume(state_digest(state))
        await unit.commit()
    return lookup


async def test_a_state_is_consumed_once_even_by_concurrent_callbacks(uow):
    state, session = await started(uow)
    lookups = await asyncio.gather(*(consume(uow, state) for _ in range(10)))
    winners = [lookup for lookup in lookups if lookup.consumed_now]
    assert len(winners) == 1
    assert winners[0].session.secrets.code_verifier.get_secret_value() == "verifier-SECRET"
    assert all(lookup.session.id == session.id for lookup in lookups)
    # A replay opens no secrets.
    assert all(lookup.session.secrets.empty for lookup in lookups if not lookup.consumed_now)
    unknown = await consume(uow, new_state())
    assert (unknown.session, unknown.consumed_now) == (None, False)


async def test_secrets_are_sealed_to_their_row(uow, engine):
    _, session = await started(uow)
    other_state, other = await started(uow)
    async with engine.begin() as conn:
        sealed = (
            await conn.execute(
                text("SELECT sealed FROM connector_sessions WHERE id = :id"), {"id": session.id}
            )
        ).scalar_one()
        assert b"verifier-SECRET" not in bytes(sealed)
        # The ciphertext copied to another session's row does not open there.
        await conn.execute(
            text("UPDATE connector_sessions SET sealed = :s WHERE id = :id"),
            {"s": sealed, "id": other.id},
        )
    with pytest.raises(DecryptionError):
        await consume(uow, other_state)


async def test_expiry_is_judged_by_the_databases_clock(uow, engine):
    state, session = await started(uow)
    assert session.expires_at - session.created_at == TTL
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE connector_sessions SET expires_at = clock_timestamp() - interval '1 s' "
                "WHERE id = :id"
            ),
            {"id": session.id},
        )
    lookup = await consume(uow, state)
    assert lookup.consumed_now
    assert lookup.session.expired


async def test_only_one_caller_claims_a_selection_and_only_while_it_lives(uow):
    ws = uuid.uuid4()
    _, session = await started(uow, workspace_id=ws)
    async with uow() as unit:
        await unit.sessions.save(session.selecting((), SessionSecrets(user_tokens=tokens("t"))))
        await unit.commit()

    async def claim():
        async with uow() as unit:
            claimed = await unit.sessions.claim_selection(session.id, ws)
            await unit.commit()
        return claimed

    claims = await asyncio.gather(*(claim() for _ in range(8)))
    (winner,) = [c for c in claims if c is not None]
    assert winner.status == "completing"
    assert winner.secrets.user_tokens.access_token.get_secret_value() == "t"
    async with uow() as unit:
        assert await unit.sessions.claim_selection(session.id, uuid.uuid4()) is None
        assert await unit.sessions.get(session.id, uuid.uuid4()) is None


async def test_the_start_window_counts_per_workspace_and_restarts(uow, engine):
    ws = uuid.uuid4()

    async def count():
        async with uow() as unit:
            counted = await unit.sessions.count_start(ws, timedelta(seconds=60))
            await unit.commit()
        return counted.count

    assert sorted(await asyncio.gather(*(count() for _ in range(6)))) == [1, 2, 3, 4, 5, 6]
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE connector_start_windows SET window_started_at = clock_timestamp() - "
                "interval '61 s' WHERE workspace_id = :ws"
            ),
            {"ws": ws},
        )
    assert await count() == 1


async def test_the_purge_wipes_expired_secrets_then_deletes_old_sessions(uow, engine):
    _, fresh = await started(uow)
    _, expired = await started(uow)
    _, ancient = await started(uow)
    async with engine.begin() as conn:
        for session_id, age_s in ((expired.id, 60), (ancient.id, 7200)):
            await conn.execute(
                text(
                    "UPDATE connector_sessions SET expires_at = clock_timestamp() - "
                    "make_interval(secs => :age) WHERE id = :id"
                ),
                {"id": session_id, "age": age_s},
            )
    async with uow() as unit:
        wiped, deleted = await unit.sessions.purge(timedelta(hours=1))
        await unit.commit()
    assert wiped >= 1
    assert deleted >= 1
    async with engine.connect() as conn:
        rows = {
            r.id: r.sealed
            for r in await conn.execute(
                text("SELECT id, sealed FROM connector_sessions WHERE id = ANY(:ids)"),
                {"ids": [fresh.id, expired.id, ancient.id]},
            )
        }
    assert rows[fresh.id] is not None
    assert rows[expired.id] is None
    assert ancient.id not in rows


async def test_count_and_add_stores_the_session_only_within_the_limit(uow, engine):
    ws = uuid.uuid4()

    async def start_one():
        new = NewSession(
            id=uuid.uuid4(),
            state_digest=state_digest(new_state()),
            workspace_id=ws,
            user_id="u1",
            platform="x",
            redirect_url="http://127.0.0.1/x",
        )
        async with uow() as unit:
            started = await unit.sessions.count_and_add(
                new, TTL, window=timedelta(seconds=60), limit=3
            )
            await unit.commit()
        return started

    results = await asyncio.gather(*(start_one() for _ in range(5)))
    assert sorted(r.count.count for r in results) == [1, 2, 3, 4, 5]
    assert sum(r.session is not None for r in results) == 3
    stored = [r.session for r in results if r.session is not None]
    assert all(s.expires_at - s.created_at == TTL for s in stored)
    async with engine.connect() as conn:
        count = (
            await conn.execute(
                text("SELECT count(*) FROM connector_sessions WHERE workspace_id = :ws"),
                {"ws": ws},
            )
        ).scalar_one()
    assert count == 3
