"""The SQL side under concurrency, on the real PostgreSQL: transactions that race for the same
incident, digest or queue row, ordered by the test (no Kafka, no SMTP)."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.db.engine import create_session_factory
from mooring.events import utcnow
from mooring.messaging.outbox import Outbox
from mooring.uow import UnitOfWorkDeps
from notifier.domain.incidents import Rules
from notifier.domain.signals import AccountFailed, AccountRecovered, PostFailure
from notifier.service_layer.directory import change_owner
from notifier.service_layer.intake import take_in
from notifier.service_layer.unit_of_work import NotifierUnitOfWork

pytestmark = pytest.mark.integration

RULES = Rules(digest_settle_s=0, post_settle_s=0)


@pytest.fixture
def uow(engine: AsyncEngine) -> Callable[[], NotifierUnitOfWork]:
    deps = UnitOfWorkDeps(
        sessions=create_session_factory(engine), outbox=Outbox(), source="notifier-test"
    )
    return lambda: NotifierUnitOfWork(deps)


def failure(ws, account=None, run=None, minutes=0.0):
    return AccountFailed(
        account or uuid.uuid4(),
        ws,
        "tiktok",
        utcnow() + timedelta(minutes=minutes),
        "tt-1",
        "refresh_failed",
        "token_expired",
        run,
    )


async def count(engine, sql, **params) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def racing(uow, *batches, hold_s: float = 0.3):
    """Each batch in its own transaction, all started together; each holds its locks a while
    before committing, so the others must wait for it (or skip it) rather than interleave."""

    async def one(signals):
        async with uow() as u:
            await take_in(u, signals, RULES)
            await asyncio.sleep(hold_s)
            await u.commit()

    await asyncio.gather(*(one(list(b)) for b in batches))


async def test_copies_of_one_incident_in_racing_transactions_make_one_notification(engine, uow):
    ws, account = uuid.uuid4(), uuid.uuid4()
    copies = [[failure(ws, account, minutes=i / 10)] for i in range(4)]
    await racing(uow, *copies)
    assert (
        await count(
            engine, "SELECT count(*) FROM notifier_notifications WHERE account_id = :a", a=account
        )
        == 1
    )


async def test_a_failure_and_its_recovery_racing_on_two_topics_end_consistent(engine, uow):
    ws, account = uuid.uuid4(), uuid.uuid4()
    fail = failure(ws, account)
    recover = AccountRecovered(account, ws, "tiktok", fail.at + timedelta(minutes=1))
    await racing(uow, [fail], [recover])
    kinds = await count(
        engine,
        "SELECT count(*) FROM notifier_notifications WHERE account_id = :a AND resolved_at IS NULL "
        "AND kind = 'account_disconnected'",
        a=account,
    )
    # Whichever ran first, the failure is not left open: either it was resolved by the
    # recovery, or it arrived after the recovery and was dropped as stale.
    assert kinds == 0
    async with engine.connect() as conn:
        state = (
            await conn.execute(
                text(
                    "SELECT failure_notification_id, cleared_at FROM notifier_accounts WHERE account_id = :a"
                ),
                {"a": account},
            )
        ).one()
    assert state.failure_notification_id is None
    assert state.cleared_at is not None


async def test_racing_batches_of_one_check_run_join_one_digest(engine, uow):
    ws, run = uuid.uuid4(), uuid.uuid4()
    await racing(uow, [failure(ws, run=run), failure(ws, run=run)], [failure(ws, run=run)])
    digests = await count(
        engine, "SELECT count(*) FROM notifier_deliveries WHERE workspace_id = :ws", ws=ws
    )
    carried = await count(
        engine,
        "SELECT count(*) FROM notifier_notifications n JOIN notifier_deliveries d "
        "ON d.id = n.delivery_id WHERE d.workspace_id = :ws",
        ws=ws,
    )
    assert (digests, carried) == (1, 3)


async def test_a_failure_arriving_after_its_runs_digest_was_claimed_gets_a_digest_of_its_own(
    engine, uow
):
    ws, run = uuid.uuid4(), uuid.uuid4()
    async with uow() as u:
        await change_owner(u, ws, uuid.uuid4(), "o@example.com", None)
        await take_in(u, [failure(ws, run=run), failure(ws, run=run)], RULES)
        await u.commit()
    async with uow() as u:
        claimed = await u.deliveries.claim(1000, 60)
        await u.commit()
    assert [c.workspace_id for c in claimed if c.workspace_id == ws] == [ws]
    async with uow() as u:
        await take_in(u, [failure(ws, run=run)], RULES)
        await u.commit()
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT d.status, count(n.id) AS n FROM notifier_deliveries d "
                    "JOIN notifier_notifications n ON n.delivery_id = d.id "
                    "WHERE d.workspace_id = :ws GROUP BY d.id ORDER BY d.created_at"
                ),
                {"ws": ws},
            )
        ).all()
    assert [(r.status, r.n) for r in rows] == [("sending", 2), ("pending", 1)]


async def test_workers_claiming_at_once_never_take_the_same_mail(engine, uow):
    ws = uuid.uuid4()
    async with uow() as u:
        await change_owner(u, ws, uuid.uuid4(), "o@example.com", None)
        await take_in(u, [failure(ws) for _ in range(30)], RULES)
        await u.commit()

    async def claim():
        async with uow() as u:
            got = await u.deliveries.claim(12, 60)
            await asyncio.sleep(0.2)  # hold the row locks while the others claim
            await u.commit()
        return [c.id for c in got if c.workspace_id == ws]

    ids: list[uuid.UUID] = []
    while True:  # rounds of four at once, until the workspace's mail is all claimed
        claims = await asyncio.gather(*(claim() for _ in range(4)))
        round_ids = [i for c in claims for i in c]
        if not round_ids:
            break
        ids += round_ids
    assert len(ids) == len(set(ids))
    assert len(ids) == 30


async def test_one_post_failure_reported_by_two_services_at_once_counts_once(engine, uow):
    ws, account, delivery = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def post(error):
        return PostFailure(account, ws, "x", utcnow(), uuid.uuid4(), delivery, error)

    await racing(uow, [post("stuck")], [post("failed")])
    async with engine.connect() as conn:
        counts = (
            (
                await conn.execute(
                    text(
                        "SELECT data->>'post_count' FROM notifier_notifications WHERE account_id = :a"
                    ),
                    {"a": account},
                )
            )
            .scalars()
            .all()
        )
    assert counts == ["1"]
