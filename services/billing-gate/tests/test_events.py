"""Usage and plans as projections of real Kafka events, consumed by the running service.

Re-ordering cases are in `test_projection.py`, where the test fixes the order. Here the broker
delivers: each test waits for a marker on every topic it publishes to before it asserts.
"""

import asyncio
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from mooring.events import (
    AccountConnected,
    AccountDisconnected,
    Envelope,
    Event,
    WorkspacePlanChanged,
    utcnow,
)
from mooring.messaging.cloudevents import encode_body, encode_headers
from mooring.testing import header, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.connected]


def connected(
    ws: uuid.UUID,
    account: uuid.UUID,
    handle: str,
    *,
    reconnected: bool = False,
    at: datetime | None = None,
):
    return Envelope(
        payload=AccountConnected(
            account_id=account,
            workspace_id=ws,
            platform="mastodon",
            platform_account_id=handle,
            reconnected=reconnected,
            connected_at=at or utcnow(),
        ),
        source="test",
    )


def disconnected(
    ws: uuid.UUID,
    account: uuid.UUID,
    handle: str,
    reason: str = "removed",
    *,
    at: datetime | None = None,
):
    return Envelope(
        payload=AccountDisconnected(
            account_id=account,
            workspace_id=ws,
            platform="mastodon",
            platform_account_id=handle,
            reason=reason,  # type: ignore[arg-type]
            disconnected_at=at or utcnow(),
        ),
        source="test",
    )


async def publish(service, *envelopes: Envelope[Event]) -> None:
    """In one partition, in the order given: the test controls the (re-)ordering exactly."""
    for e in envelopes:
        await service.runtime.producer.send_and_wait(
            service.topic(e.topic),
            value=encode_body(e),
            key=e.key.encode(),
            partition=0,
            headers=[(k, v.encode()) for k, v in encode_headers(e).items()],
        )


async def eventually(probe, expected, timeout_s: float = 30):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await probe()
        if value == expected or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)


async def processed(engine, group: str, *event_ids: uuid.UUID) -> bool:
    """Has billing-gate's consumer group committed the effect of every one of these events?"""
    async with engine.connect() as conn:
        seen = await conn.execute(
            text(
                "SELECT count(*) FROM inbox WHERE consumer = :group "
                "AND event_id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"group": group, "ids": list(event_ids)},
        )
        return seen.scalar_one() == len(event_ids)


async def test_duplicated_and_reordered_account_events_leave_usage_right(service, engine) -> None:
    """Two topics, so the broker may interleave them any way: every effect below is the same
    in any interleaving (the newest event per account wins), and each topic ends in a marker."""
    ws = uuid.uuid4()
    a, b, c, d, e, f, m1, m2 = (uuid.uuid4() for _ in range(8))
    t = utcnow() - timedelta(minutes=10)
    b_connected = connected(ws, b, "b", at=t)
    connected_marker = connected(ws, m1, "m1", at=t)
    removed_marker = disconnected(ws, m2, "m2", at=t)  # never connected: counts nothing
    await publish(
        service,
        connected(ws, a, "a", at=t),  # its removal is newer: whichever arrives first
        b_connected,
        b_connected,  # exact duplicate
        connected(ws, b, "b", at=t),  # same account, another event id
        connected(ws, c, "c", at=t),
        connected(ws, d, "d", reconnected=True, at=t),  # first connect never seen: counts
        connected(ws, e, "e", at=t),
        connected(ws, f, "f", at=t),
        connected(ws, f, "f", at=t + timedelta(minutes=2)),  # connected again after removal
        connected_marker,
    )
    await publish(
        service,
        disconnected(ws, a, "a", at=t + timedelta(minutes=1)),
        disconnected(ws, c, "c", reason="token_expired"),  # still in the workspace
        disconnected(ws, c, "c", reason="revoked"),
        disconnected(ws, e, "e", at=t + timedelta(minutes=1)),
        disconnected(ws, e, "e", at=t + timedelta(minutes=1)),  # a removal seen twice
        disconnected(ws, f, "f", at=t + timedelta(minutes=1)),
        removed_marker,
    )
    markers = (connected_marker.id, removed_marker.id)
    assert await eventually(
        lambda: processed(engine, service.runtime.group, *markers), expected=True
    )
    usage = await service.usage(ws)
    assert usage["used"] == 5, usage  # b, c, d, f and the connected marker


async def test_account_connected_settles_the_reservation_held_for_it(service) -> None:
    ws = uuid.uuid4()
    r = await service.http.post(
        f"{service.ws(ws)}/reservations",
        json={"platform": "mastodon", "platform_account_id": "alice@example.social"},
    )
    assert r.status_code == 201
    account = uuid.uuid4()
    await publish(service, connected(ws, account, "alice@example.social"))

    async def probe() -> tuple[object, object]:
        usage = await service.usage(ws)
        return usage["used"], usage["reserved"]

    assert await eventually(probe, expected=(1, 0)) == (1, 0)
    state = await service.http.get(f"{service.ws(ws)}/reservations/{r.json()['reservation_id']}")
    assert (state.json()["status"], state.json()["account_id"]) == ("confirmed", str(account))


async def test_a_plan_change_by_event_takes_effect_and_the_newest_wins(service) -> None:
    ws, marker_ws = uuid.uuid4(), uuid.uuid4()
    now = utcnow()

    def plan_changed(workspace: uuid.UUID, plan: str, age_s: int) -> Envelope[Event]:
        change = WorkspacePlanChanged(
            workspace_id=workspace, plan=plan, changed_at=now - timedelta(seconds=age_s)
        )
        return Envelope(payload=change, source="test")

    await publish(
        service,
        plan_changed(ws, "pro", age_s=10),
        plan_changed(ws, "plus", age_s=60),  # older, delivered late: ignored
        plan_changed(marker_ws, "max", age_s=0),
    )

    async def marker_plan() -> object:
        return (await service.usage(marker_ws))["plan"]

    assert await eventually(marker_plan, expected="max") == "max"
    usage = await service.usage(ws)
    assert (usage["plan"], usage["limit"], usage["upgrade_to"]) == ("pro", 30, "max")


async def test_a_malformed_event_lands_in_the_dlq(service) -> None:
    topic = service.topic("account.connected")
    bad = connected(uuid.uuid4(), uuid.uuid4(), "bad")
    await service.runtime.producer.send_and_wait(
        topic,
        value=b'{"account_id": ',
        key=bad.key.encode(),
        headers=[(k, v.encode()) for k, v in encode_headers(bad).items()],
    )
    dead = await read_topic(
        service.settings.kafka.bootstrap_servers,
        topic + ".dlq",
        until=lambda rs: any(header(r, "ce_id") == str(bad.id) for r in rs),
        settle_s=0,
    )
    (record,) = [r for r in dead if header(r, "ce_id") == str(bad.id)]
    assert header(record, "dlq-original-topic") == topic
    assert header(record, "dlq-consumer-group") == service.settings.consumer_group


async def test_an_unknown_plan_in_an_event_is_dead_lettered_not_stored(service) -> None:
    ws = uuid.uuid4()
    change = WorkspacePlanChanged(workspace_id=ws, plan="enterprise", changed_at=utcnow())
    envelope = Envelope(payload=change, source="test")
    await publish(service, envelope)
    topic = service.topic("workspace.plan_changed")
    dead = await read_topic(
        service.settings.kafka.bootstrap_servers,
        topic + ".dlq",
        until=lambda rs: any(header(r, "ce_id") == str(envelope.id) for r in rs),
        settle_s=0,
    )
    (record,) = [r for r in dead if header(r, "ce_id") == str(envelope.id)]
    assert header(record, "dlq-error-type") == "UnknownPlanError"
    assert (await service.usage(ws))["plan"] == "starter"
