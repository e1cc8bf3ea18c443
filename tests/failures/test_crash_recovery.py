"""SIGKILL of each consuming service in the middle of its events, then a restart: no effect is
lost and none is duplicated.

Each case produces 10,000 events straight to Kafka as CloudEvents, as the outbox relay would,
kills the service with SIGKILL once about a third of them has taken effect (no shutdown hook
runs: its open transactions are rolled back by PostgreSQL, offsets not yet committed are lost),
starts it again, waits until its consumer group has committed to the end of the topic, and
counts the service's own effects in the database: exactly one per event, and one inbox mark per
event for its group. Another service consuming the same topic (the notifier reads
`account.connected` and `token.expiring` too) keeps running meanwhile.

The effects: billing-gate's usage projection rows (`account.connected`), the notifier's
notifications and their held e-mails (`post.stuck` decided `failed`, one account each),
health-checker's delivery projection rows (`post.publishing`), token-keeper's refreshes
(`token.expiring`: the account's new tokens and exactly one `token.refreshed` each).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.events import (
    AccountConnected,
    Envelope,
    PostPublishing,
    PostStuck,
    TokenExpiring,
    utcnow,
)
from tests.system import System

from .accounts import mint, seed, system_vault
from .helpers import caught_up, produce, scalar, wait_until

EVENTS = 10_000
PER_WORKSPACE = 10


def group(system: System, service: str) -> str:
    return system.env["KAFKA_TOPIC_PREFIX"] + service


async def crash_and_recover(
    system: System,
    engine: AsyncEngine,
    *,
    package: str,
    envelopes: list[Envelope[Any]],
    effects: str,
    ids: list[uuid.UUID],
) -> None:
    """Produce, SIGKILL `package` once a third has taken effect, restart it, wait until its
    group has committed to the end of the topic; then exactly one effect per event (`effects`:
    SQL counting them, given `:ids`) and one inbox mark per event."""
    bootstrap = system.env["KAFKA_BOOTSTRAP_SERVERS"]
    prefix = system.env["KAFKA_TOPIC_PREFIX"]
    topic = prefix + envelopes[0].topic
    total = len(envelopes)

    async def done() -> int:
        return int(await scalar(engine, effects, ids=ids))

    async def a_third() -> bool:
        return await done() >= total // 3

    producing = asyncio.create_task(produce(bootstrap, prefix, envelopes))
    try:
        await wait_until(a_third, timeout_s=120, what=f"{package}: a third done")
        await system.kill(package)
        at_kill = await done()
        assert await producing == total
    finally:
        producing.cancel()
    assert at_kill < total, f"{package} finished everything before it was killed"

    await system.restart(package)
    service = package.replace("_", "-")

    async def finished() -> bool:
        return await done() >= total and await caught_up(bootstrap, group(system, service), topic)

    await wait_until(finished, timeout_s=180, what=f"{package}: every effect after the restart")
    await asyncio.sleep(2)  # anything redelivered late would show now
    assert await done() == total
    marked = await scalar(
        engine,
        "SELECT count(*) FROM inbox WHERE consumer = :group AND event_id = ANY(:ids)",
        group=group(system, service),
        ids=[e.id for e in envelopes],
    )
    assert marked == total


@pytest.mark.timeout(240)
async def test_billing_gate_counts_every_account_once_across_a_sigkill(
    system: System, failure_engine: AsyncEngine
) -> None:
    now = utcnow()
    workspaces = [uuid.uuid4() for _ in range(EVENTS // PER_WORKSPACE)]
    envelopes = [
        Envelope(
            payload=AccountConnected(
                account_id=uuid.uuid4(),
                workspace_id=workspaces[n % len(workspaces)],
                platform="x",
                platform_account_id=f"crash-{n}",
                connected_at=now,
            ),
            source="mooring/connector",
        )
        for n in range(EVENTS)
    ]
    await crash_and_recover(
        system,
        failure_engine,
        package="billing_gate",
        envelopes=envelopes,
        effects="SELECT count(*) FROM billing_accounts WHERE account_id = ANY(:ids)",
        ids=[e.payload.account_id for e in envelopes],
    )
    # The projection's rows are what usage counts: every workspace uses exactly its ten.
    counted = await scalar(
        failure_engine,
        "SELECT count(*) FROM (SELECT workspace_id FROM billing_accounts "
        "WHERE workspace_id = ANY(:ws) AND removed_at IS NULL "
        "GROUP BY workspace_id HAVING count(*) = :n) full_ones",
        ws=workspaces,
        n=PER_WORKSPACE,
    )
    assert counted == len(workspaces)


@pytest.mark.timeout(240)
async def test_notifier_notifies_every_failed_post_once_across_a_sigkill(
    system: System, failure_engine: AsyncEngine
) -> None:
    now = utcnow()
    workspaces = [uuid.uuid4() for _ in range(EVENTS // PER_WORKSPACE)]
    envelopes = [
        Envelope(
            payload=PostStuck(
                post_id=uuid.uuid4(),
                delivery_id=uuid.uuid4(),
                account_id=uuid.uuid4(),  # one account each: no grouping of post failures
                workspace_id=workspaces[n % len(workspaces)],
                platform="x",
                decision="failed",
                attempt=3,
                publishing_since=now - timedelta(hours=2),
                reason="attempts_exhausted",
            ),
            source="mooring/health-checker",
        )
        for n in range(EVENTS)
    ]
    accounts = [e.payload.account_id for e in envelopes]
    await crash_and_recover(
        system,
        failure_engine,
        package="notifier",
        envelopes=envelopes,
        effects="SELECT count(*) FROM notifier_notifications "
        "WHERE kind = 'posts_failed' AND account_id = ANY(:ids)",
        ids=accounts,
    )
    # One e-mail per notification, held: no owner is known for these workspaces.
    held = await scalar(
        failure_engine,
        "SELECT count(DISTINCT d.id) FROM notifier_notifications n "
        "JOIN notifier_deliveries d ON d.id = n.delivery_id "
        "WHERE n.account_id = ANY(:ids) AND d.status = 'held'",
        ids=accounts,
    )
    assert held == EVENTS


@pytest.mark.timeout(240)
async def test_health_checker_records_every_delivery_once_across_a_sigkill(
    system: System, failure_engine: AsyncEngine
) -> None:
    now = utcnow()
    envelopes = [
        Envelope(
            payload=PostPublishing(
                post_id=uuid.uuid4(),
                delivery_id=uuid.uuid4(),
                account_id=uuid.uuid4(),
                workspace_id=uuid.uuid4(),
                platform="x",
                at=now,
            ),
            source="publisher",
        )
        for _ in range(EVENTS)
    ]
    await crash_and_recover(
        system,
        failure_engine,
        package="health_checker",
        envelopes=envelopes,
        effects="SELECT count(*) FROM hc_deliveries WHERE delivery_id = ANY(:ids)",
        ids=[e.payload.delivery_id for e in envelopes],
    )


@pytest.mark.timeout(300)
async def test_token_keeper_refreshes_every_account_once_across_a_sigkill(
    system: System, failure_engine: AsyncEngine
) -> None:
    # LinkedIn's refresh tokens do not rotate: a refresh the kill cut off between the platform's
    # answer and the commit is simply made again (a rotating token would be spent by then, which
    # no consumer can undo).
    tokens = await mint(
        system.urls["sim"], "linkedin", EVENTS, user="crash", scopes=["openid", "profile"]
    )
    ids = await seed(
        failure_engine,
        system_vault(system),
        "linkedin",
        tokens,
        expires_in=timedelta(minutes=10),
        issued_ago=timedelta(days=59),
        workspaces=EVENTS // PER_WORKSPACE,
    )
    rows = await _workspaces(failure_engine, ids)
    envelopes = [
        Envelope(
            payload=TokenExpiring(
                account_id=account_id,
                workspace_id=rows[account_id],
                platform="linkedin",
                expires_at=utcnow() + timedelta(minutes=10),
                refreshable=True,
            ),
            source="mooring/token-keeper",
        )
        for account_id in ids
    ]
    await crash_and_recover(
        system,
        failure_engine,
        package="token_keeper",
        envelopes=envelopes,
        effects="SELECT count(*) FROM accounts WHERE id = ANY(:ids) AND refreshed_at IS NOT NULL",
        ids=ids,
    )
    prefix = system.env["KAFKA_TOPIC_PREFIX"]
    # Exactly one token.refreshed per account, every account still connected and healthy.
    events, accounts = await asyncio.gather(
        scalar(
            failure_engine,
            "SELECT count(*) FROM outbox WHERE topic = :topic AND key = ANY(:keys)",
            topic=prefix + "token.refreshed",
            keys=[str(i) for i in ids],
        ),
        scalar(
            failure_engine,
            "SELECT count(DISTINCT key) FROM outbox WHERE topic = :topic AND key = ANY(:keys)",
            topic=prefix + "token.refreshed",
            keys=[str(i) for i in ids],
        ),
    )
    assert (events, accounts) == (EVENTS, EVENTS)
    healthy = await scalar(
        failure_engine,
        "SELECT count(*) FROM accounts WHERE id = ANY(:ids) AND status = 'connected' "
        "AND refresh_failures = 0 AND token_expires_at > now() + interval '30 days'",
        ids=ids,
    )
    assert healthy == EVENTS


async def _workspaces(engine: AsyncEngine, ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT id, workspace_id FROM accounts WHERE id = ANY(:ids)"), {"ids": ids}
        )
        return {row.id: row.workspace_id for row in rows}
