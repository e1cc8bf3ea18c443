"""Every request field is bounded: what used to be a 500 is a 422 naming the field."""

import uuid
from datetime import timedelta

import pytest

from mooring.events import utcnow

pytestmark = [pytest.mark.integration, pytest.mark.connected]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"platform": "x", "platform_account_id": "a", "ttl_s": 86_400_000_000_000}, "ttl_s"),
        ({"platform": "x", "platform_account_id": "a", "ttl_s": True}, "ttl_s"),
        ({"platform": "x", "platform_account_id": "a", "ttl_s": "10"}, "ttl_s"),
        ({"platform": "x", "platform_account_id": "nul\u0000byte"}, "platform_account_id"),
        ({"platform": "myspace", "platform_account_id": "a"}, "platform"),
        ({"platform": "x", "platform_account_id": "a" * 513}, "platform_account_id"),
    ],
)
async def test_bad_reservation_bodies_are_422_naming_the_field(service, body, field) -> None:
    r = await service.http.post(f"{service.ws(uuid.uuid4())}/reservations", json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert any(field in e["location"] for e in r.json()["errors"]), r.json()


async def test_a_nul_byte_in_the_query_is_422_not_a_database_error(service) -> None:
    r = await service.http.get(
        f"{service.ws(uuid.uuid4())}/decision",
        params={"platform": "x", "platform_account_id": "a\u0000b"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "urn:mooring:problem:validation-error"


async def test_a_plan_change_dated_far_ahead_is_refused_and_a_slightly_ahead_one_applies(
    service,
) -> None:
    ws = uuid.uuid4()
    far = await service.http.put(
        f"{service.ws(ws)}/plan",
        json={"plan": "max", "changed_at": (utcnow() + timedelta(days=365)).isoformat()},
    )
    assert far.status_code == 422, far.text
    assert far.json()["type"] == "urn:mooring:problem:changed-at-in-future"
    assert (await service.usage(ws))["plan"] == "starter"  # nothing was frozen
    near = await service.http.put(
        f"{service.ws(ws)}/plan",
        json={"plan": "pro", "changed_at": (utcnow() + timedelta(seconds=30)).isoformat()},
    )
    assert near.status_code == 200, near.text
    older = await service.http.put(f"{service.ws(ws)}/plan", json={"plan": "plus"})
    assert older.json()["applied"] is False  # "now" is older than the change 30 s ahead
    assert older.json()["plan"] == "pro"


@pytest.mark.parametrize("changed_at", [0, 1_700_000_000, "2026-01-01T00:00", "yesterday"])
async def test_a_plan_change_time_must_be_an_iso_timestamp_with_an_offset(
    service, changed_at
) -> None:
    ws = uuid.uuid4()
    r = await service.http.put(
        f"{service.ws(ws)}/plan", json={"plan": "max", "changed_at": changed_at}
    )
    assert r.status_code == 422, r.text
    assert any("changed_at" in e["location"] for e in r.json()["errors"]), r.json()
    assert (await service.usage(ws))["plan"] == "starter"


async def test_a_plan_change_event_dated_far_ahead_is_dead_lettered_with_the_reason(
    service,
) -> None:
    from mooring.events import Envelope, WorkspacePlanChanged
    from mooring.messaging.cloudevents import encode_body, encode_headers
    from mooring.testing import header, read_topic

    ws = uuid.uuid4()
    event = Envelope(
        WorkspacePlanChanged(
            workspace_id=ws, plan="max", changed_at=utcnow() + timedelta(days=365)
        ),
        source="mooring/platform",
    )
    topic = service.topic("workspace.plan_changed")
    await service.runtime.producer.send_and_wait(
        topic,
        value=encode_body(event),
        key=event.key.encode(),
        headers=[(k, v.encode()) for k, v in encode_headers(event).items()],
    )
    dead = await read_topic(
        service.settings.kafka.bootstrap_servers,
        topic + ".dlq",
        until=lambda rs: any(header(r, "ce_id") == str(event.id) for r in rs),
        settle_s=0,
    )
    (record,) = [r for r in dead if header(r, "ce_id") == str(event.id)]
    assert "in the future" in (header(record, "dlq-error") or "")
    assert header(record, "dlq-attempts") == "1"
    assert (await service.usage(ws))["plan"] == "starter"
