"""The public feed and preferences, and the internal directory and delivery desk, over HTTP
against the running service and its PostgreSQL. Notifications are made through the intake on
the service's own unit of work (the Kafka path is `test_flow.py`'s)."""

import uuid
from datetime import timedelta

import pytest

from mooring.events import utcnow
from mooring.service.problems import PROBLEM_JSON
from notifier.domain.incidents import Rules
from notifier.domain.signals import AccountFailed, PostFailure
from notifier.service_layer.intake import take_in

pytestmark = [pytest.mark.integration, pytest.mark.connected]


async def failures(service, workspace_id: uuid.UUID, n: int) -> list[uuid.UUID]:
    accounts = [uuid.uuid4() for _ in range(n)]
    start = utcnow()
    signals = [
        AccountFailed(
            a,
            workspace_id,
            "mastodon",
            start + timedelta(seconds=i),
            "@me",
            "revoked",
            "disconnected",
        )
        for i, a in enumerate(accounts)
    ]
    async with service.runtime.unit_of_work() as uow:
        await take_in(uow, signals, Rules())
        await uow.commit()
    return accounts


def is_problem(response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["type"] == f"urn:mooring:problem:{slug}"


async def test_the_feed_pages_newest_first_without_gaps_or_repeats(service):
    ws = uuid.uuid4()
    await failures(service, ws, 25)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        page = await service.feed(ws, **params)
        pages += 1
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == 25
    assert len({n["id"] for n in seen}) == 25
    created = [n["created_at"] for n in seen]
    assert created == sorted(created, reverse=True)


async def test_read_state_is_per_user_and_mark_all_read_covers_what_exists(service):
    ws = uuid.uuid4()
    await failures(service, ws, 3)
    owner, admin = service.user(ws, "owner"), service.user(ws, "admin")
    first = (await service.feed(ws))["items"][0]

    r = await service.http.post(
        f"/v1/workspaces/{ws}/notifications/{first['id']}/read", headers=owner
    )
    assert r.status_code == 200, r.text
    assert r.json()["read"] is True
    again = await service.http.post(
        f"/v1/workspaces/{ws}/notifications/{first['id']}/read", headers=owner
    )
    assert again.status_code == 200  # idempotent
    assert (await service.feed(ws, "owner"))["unread_count"] == 2
    assert (await service.feed(ws, "admin"))["unread_count"] == 3
    unread = await service.feed(ws, "owner", unread="true")
    assert first["id"] not in {n["id"] for n in unread["items"]}
    assert len(unread["items"]) == 2

    r = await service.http.post(f"/v1/workspaces/{ws}/notifications/read-all", headers=admin)
    assert r.status_code == 200
    assert r.json() == {"unread_count": 0}
    assert (await service.feed(ws, "admin"))["unread_count"] == 0
    assert (await service.feed(ws, "owner"))["unread_count"] == 2

    await failures(service, ws, 1)  # news after the mark is unread again
    assert (await service.feed(ws, "admin"))["unread_count"] == 1


async def test_members_read_the_feed_but_only_the_owner_changes_preferences(service):
    ws = uuid.uuid4()
    await failures(service, ws, 1)
    assert len((await service.feed(ws, "member"))["items"]) == 1
    url = f"/v1/workspaces/{ws}/notification-preferences"
    for role in ("member", "admin"):
        r = await service.http.get(url, headers=service.user(ws, role))
        assert r.status_code == 200
        assert set(r.json()["email"].values()) == {True}
        refused = await service.http.patch(
            url, json={"posts_failed": False}, headers=service.user(ws, role)
        )
        is_problem(refused, 403, "owner-only")
    r = await service.http.patch(url, json={"posts_failed": False}, headers=service.user(ws))
    assert r.status_code == 200
    assert r.json()["email"] == {
        "account_disconnected": True,
        "reconnect_reminder": True,
        "account_recovered": True,
        "posts_failed": False,
    }
    internal = await service.http.get(
        f"/internal/v1/workspaces/{ws}/notification-preferences", headers=service.internal()
    )
    assert internal.json()["email"]["posts_failed"] is False


async def test_another_workspace_answers_404(service):
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    await failures(service, theirs, 1)
    their_note = (await service.feed(theirs))["items"][0]["id"]
    r = await service.http.post(
        f"/v1/workspaces/{mine}/notifications/{their_note}/read", headers=service.user(mine)
    )
    is_problem(r, 404, "notification-not-found")
    r = await service.http.get(f"/v1/workspaces/{theirs}/notifications", headers=service.user(mine))
    is_problem(r, 404, "not-found")
    r = await service.http.post(
        f"/v1/workspaces/{theirs}/notifications/{their_note}/read", headers=service.user(mine)
    )
    is_problem(r, 404, "not-found")
    assert (await service.feed(theirs))["items"][0]["read"] is False


async def test_bad_input_gets_a_clear_problem_and_changes_nothing(service):
    ws = uuid.uuid4()
    owner = service.user(ws)
    feed = f"/v1/workspaces/{ws}/notifications"
    for params in ({"limit": 0}, {"limit": 101}, {"limit": "ten"}, {"cursor": "x" * 200}):
        is_problem(
            await service.http.get(feed, params=params, headers=owner), 422, "validation-error"
        )
    is_problem(
        await service.http.get(feed, params={"cursor": "bm90LWEtY3Vyc29y"}, headers=owner),
        422,
        "invalid-cursor",
    )
    prefs = f"/v1/workspaces/{ws}/notification-preferences"
    for body in ({"posts_failed": "no"}, {"posts_failed": 0}, {"unknown_kind": False}):
        is_problem(
            await service.http.patch(prefs, json=body, headers=owner), 422, "validation-error"
        )
    assert set((await service.http.get(prefs, headers=owner)).json()["email"].values()) == {True}
    owner_url = f"/internal/v1/workspaces/{ws}/owner"
    for body in (
        {"user_id": str(uuid.uuid4()), "email": "not-an-address"},
        {"user_id": str(uuid.uuid4()), "email": "a\r\nBcc: x@example.com"},
        {"user_id": "nope", "email": "a@example.com"},
        {"user_id": str(uuid.uuid4()), "email": f"{'a' * 250}@example.com"},
        # A number is not a timestamp: lax parsing would have read 0 as 1970.
        {"user_id": str(uuid.uuid4()), "email": "a@example.com", "changed_at": 0},
        {"user_id": str(uuid.uuid4()), "email": "a@example.com", "changed_at": "2026-01-01T00:00"},
    ):
        r = await service.http.put(owner_url, json=body, headers=service.internal())
        is_problem(r, 422, "validation-error")
    is_problem(
        await service.http.get(owner_url, headers=service.internal()), 404, "owner-not-found"
    )


async def test_routes_refuse_callers_without_the_right_credential(service):
    ws = uuid.uuid4()
    is_problem(await service.http.get(f"/v1/workspaces/{ws}/notifications"), 401, "unauthenticated")
    r = await service.http.get(
        f"/v1/workspaces/{ws}/notifications", headers={"Authorization": "Bearer not-a-jwt"}
    )
    is_problem(r, 401, "unauthenticated")
    for url in (f"/internal/v1/workspaces/{ws}/owner", "/internal/v1/deliveries"):
        is_problem(await service.http.get(url), 401, "unauthenticated")
        is_problem(await service.http.get(url, headers=service.user(ws)), 401, "unauthenticated")


async def test_the_delivery_desk_shows_the_queue_and_retries_only_failed_mail(service):
    ws = uuid.uuid4()
    address = f"desk-{ws.hex[:8]}@example.com"
    service.smtp.handler.refuse = "550 5.7.1 Rejected by policy"
    try:
        await service.set_owner(ws, address)
        account = uuid.uuid4()
        async with service.runtime.unit_of_work() as uow:
            await take_in(
                uow,
                [PostFailure(account, ws, "x", utcnow(), uuid.uuid4(), uuid.uuid4(), "boom")],
                Rules(post_settle_s=0),
            )
            await uow.commit()

        async def failed():
            found = await service.deliveries(ws)
            return found[0] if found else None

        from notifier.testing import eventually

        row = await eventually(failed, lambda d: d is not None and d["status"] == "failed")
    finally:
        service.smtp.handler.refuse = None
    listed = await service.http.get(
        "/internal/v1/deliveries", params={"status": "failed"}, headers=service.internal()
    )
    assert row["id"] in {d["id"] for d in listed.json()}
    one = await service.http.get(f"/internal/v1/deliveries/{row['id']}", headers=service.internal())
    assert one.json()["last_code"] == 550

    retried = await service.http.post(
        f"/internal/v1/deliveries/{row['id']}/retry", headers=service.internal()
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "pending"

    async def sent():
        found = await service.deliveries(ws)
        return found[0]["status"]

    await eventually(sent, lambda status: status == "sent")
    assert len(service.smtp.to(address)) == 1
    r = await service.http.post(
        f"/internal/v1/deliveries/{row['id']}/retry", headers=service.internal()
    )
    is_problem(r, 409, "delivery-not-retryable")
    r = await service.http.post(
        f"/internal/v1/deliveries/{uuid.uuid4()}/retry", headers=service.internal()
    )
    is_problem(r, 404, "delivery-not-found")
