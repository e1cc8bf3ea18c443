"""PostgreSQL stopped and started again under the running system: every service says it is not
ready while the database is gone and ready once it is back, without being restarted, and what
arrived meanwhile takes effect (nothing is dead-lettered for the database's fault).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from mooring.events import AccountConnected, Envelope, PostPublishing, TokenExpiring, utcnow
from mooring.testing import header, read_topic
from tests.system import SERVICES, System

from .helpers import connect_bluesky, every_service, produce, scalar, wait_until
from .stack import FailureStack


def arrivals() -> list[Envelope[Any]]:
    """One event for each consuming service, produced while the database is down."""
    now = utcnow()
    account, workspace = uuid.uuid4(), uuid.uuid4()
    return [
        Envelope(
            payload=AccountConnected(
                account_id=account,
                workspace_id=workspace,
                platform="x",
                platform_account_id="during-outage",
                connected_at=now,
            ),
            source="mooring/connector",
        ),
        Envelope(
            payload=TokenExpiring(
                account_id=account,
                workspace_id=workspace,
                platform="facebook",
                expires_at=now + timedelta(days=3),
                refreshable=False,
                reminder_days=3,
            ),
            source="mooring/token-keeper",
        ),
        Envelope(
            payload=PostPublishing(
                post_id=uuid.uuid4(),
                delivery_id=uuid.uuid4(),
                account_id=account,
                workspace_id=workspace,
                platform="x",
                at=now,
            ),
            source="publisher",
        ),
    ]


OUTAGE_S = 16


@pytest.mark.timeout(240)
async def test_every_service_rides_out_a_database_restart_without_being_restarted(
    system: System, failure_stack: FailureStack, failure_engine: AsyncEngine
) -> None:
    pids = {package: system.processes[package].pid for package in SERVICES}
    prefix = system.env["KAFKA_TOPIC_PREFIX"]
    bootstrap = system.env["KAFKA_BOOTSTRAP_SERVERS"]

    await failure_stack.stop_postgres()
    stopped_at = time.monotonic()
    try:

        async def all_down() -> bool:
            return await every_service(system, ready=False, check="database")

        await wait_until(all_down, timeout_s=30, what="every service not ready, database gone")
        events = arrivals()
        await produce(bootstrap, prefix, events)
        # Down for longer than the slowest loop that polls the database (the gauges, 15 s; the
        # scheduler, 5 s; the relay's LISTEN, 1 s), so every one of them meets the outage.
        await asyncio.sleep(max(0.0, stopped_at + OUTAGE_S - time.monotonic()))
        assert await all_down(), "a service said it was ready without its database"
    finally:
        await failure_stack.start_postgres()

    await wait_until(
        lambda: every_service(system, ready=True, check="database"),
        timeout_s=90,
        what="every service ready again after the database came back",
    )
    for package in SERVICES:
        process = system.processes[package]
        assert process.returncode is None, f"{package} exited ({process.returncode})"
        assert process.pid == pids[package], f"{package} was restarted"

    # What arrived while the database was down took effect in every group that consumes it.
    groups = {
        "account.connected": ["billing-gate", "notifier"],
        "token.expiring": ["token-keeper", "notifier"],
        "post.publishing": ["health-checker"],
    }
    want = sum(len(g) for g in groups.values())

    async def handled() -> bool:
        marked = await scalar(
            failure_engine,
            "SELECT count(*) FROM inbox WHERE event_id = ANY(:ids)",
            ids=[e.id for e in events],
        )
        return int(marked) == want

    await wait_until(handled, timeout_s=60, what="the events of the outage handled")
    ours = {str(e.id) for e in events}
    for event_type in groups:
        letters = await read_topic(
            bootstrap, f"{prefix}{event_type}.dlq", until=lambda _: True, settle_s=0.5
        )
        dead = [r for r in letters if header(r, "ce_id") in ours]
        assert dead == [], f"{event_type}: dead-lettered for the database's fault"

    # The connector writes again, and the relay publishes again.
    workspace = uuid.uuid4()
    async with httpx.AsyncClient(base_url=system.urls["connector"], timeout=15) as client:
        account_id = await connect_bluesky(client, system, workspace, "after-restart")

    async def published() -> bool:
        n = await scalar(
            failure_engine,
            "SELECT count(*) FROM outbox WHERE key = :key AND published_at IS NOT NULL",
            key=str(account_id),
        )
        return int(n) == 1

    await wait_until(published, timeout_s=30, what="the connect's event relayed")
