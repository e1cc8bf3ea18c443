"""SIGKILL of the connector while accounts are being connected, then a restart: every account
that exists has its `account.connected` in the outbox, published and counted by billing-gate
exactly once, and every connect the connector answered 201 exists.

The connector consumes no topic; what it must not lose or double is what it writes: the account
row and its event in one transaction, then the relay (in whichever replica holds the relay lock)
publishing it. A request in flight at the kill either committed both or neither; the caller of
such a request may never hear which, so the count of accounts may exceed the 201s by at most the
requests in flight. Connects are Bluesky's (one request, no consent page), several workspaces in
parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.system import System

from .helpers import connect_bluesky, scalar, wait_until

CALLERS = 4
PER_WORKSPACE = 50  # within the largest plan's cap


class Connects:
    """`CALLERS` callers connecting accounts until stopped; a refused or cut request is counted,
    never retried (its outcome is what the test checks in the database)."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.accepted: list[uuid.UUID] = []
        self.cut = 0
        self.workspaces: list[uuid.UUID] = []
        self._stop = asyncio.Event()

    async def caller(self) -> None:
        async with httpx.AsyncClient(timeout=15) as client:
            while not self._stop.is_set():
                workspace = uuid.uuid4()
                self.workspaces.append(workspace)
                for _ in range(PER_WORKSPACE):
                    if self._stop.is_set():
                        return
                    name = f"crash-{uuid.uuid4().hex[:12]}"
                    try:
                        self.accepted.append(
                            await connect_bluesky(client, self.system, workspace, name)
                        )
                    except (httpx.TransportError, AssertionError):
                        # The connector is down (connection refused) or died mid-request.
                        self.cut += 1
                        await asyncio.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()


@pytest.mark.timeout(300)
async def test_a_sigkilled_connector_loses_no_account_and_doubles_no_event(
    system: System, failure_engine: AsyncEngine
) -> None:
    connects = Connects(system)
    callers = [asyncio.create_task(connects.caller()) for _ in range(CALLERS)]
    try:

        async def some(n: int) -> bool:
            return len(connects.accepted) >= n

        await wait_until(lambda: some(40), timeout_s=120, what="40 connects before the kill")
        await system.kill("connector")
        at_kill = len(connects.accepted)
        await asyncio.sleep(1)  # requests meanwhile are refused, not queued
        await system.restart("connector")
        await wait_until(
            lambda: some(at_kill + 40), timeout_s=120, what="40 connects after the restart"
        )
    finally:
        connects.stop()
        for task in callers:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 30)

    assert connects.cut >= 1, "no connect met the dead connector: the kill was not under load"
    workspaces = connects.workspaces
    made = await scalar(
        failure_engine,
        "SELECT array_agg(id) FROM accounts WHERE workspace_id = ANY(:ws)",
        ws=workspaces,
    )
    made = set(made or [])
    accepted = set(connects.accepted)
    assert accepted <= made, "a connect answered 201 has no account"
    assert len(made - accepted) <= CALLERS, "more accounts than requests in flight at the kill"

    prefix = system.env["KAFKA_TOPIC_PREFIX"]
    keys = [str(a) for a in made]

    async def events_published() -> bool:
        pending = await scalar(
            failure_engine,
            "SELECT count(*) FROM outbox WHERE topic = :t AND key = ANY(:k) "
            "AND published_at IS NULL",
            t=prefix + "account.connected",
            k=keys,
        )
        return int(pending) == 0

    await wait_until(events_published, timeout_s=60, what="every account.connected published")
    events = await scalar(
        failure_engine,
        "SELECT count(*) FROM outbox WHERE topic = :t AND key = ANY(:k)",
        t=prefix + "account.connected",
        k=keys,
    )
    assert events == len(made), "an account without its event, or an event twice"

    async def counted() -> bool:
        rows = await scalar(
            failure_engine,
            "SELECT count(*) FROM billing_accounts WHERE account_id = ANY(:ids)",
            ids=list(made),
        )
        return int(rows) >= len(made)

    await wait_until(counted, timeout_s=60, what="billing-gate counted every account")
    await asyncio.sleep(2)  # a late redelivery would add a row now
    rows = await scalar(
        failure_engine,
        "SELECT count(*) FROM billing_accounts WHERE account_id = ANY(:ids)",
        ids=list(made),
    )
    assert rows == len(made)
