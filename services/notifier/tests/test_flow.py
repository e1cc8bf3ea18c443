"""The notifier end to end: real Kafka events in, real PostgreSQL rows, real SMTP mail out."""

import asyncio
import uuid
from datetime import timedelta

import pytest

from mooring.events import utcnow
from notifier.testing import (
    account_connected,
    account_disconnected,
    account_updated,
    eventually,
    owner_changed,
    post_failed,
    post_stuck,
    token_expiring,
)

pytestmark = [pytest.mark.integration, pytest.mark.connected]


def owner_address(workspace_id: uuid.UUID) -> str:
    return f"owner-{workspace_id.hex[:12]}@example.com"


async def mails_to(service, address: str, count: int, timeout_s: float = 30.0):
    async def probe():
        return list(service.smtp.to(address))

    return await eventually(probe, lambda found: len(found) >= count, timeout_s=timeout_s)


async def test_one_disconnect_gives_one_in_app_notification_and_one_email_to_the_owner(service):
    ws = uuid.uuid4()
    address = owner_address(ws)
    await service.set_owner(ws, address)
    event = account_disconnected(
        ws, platform="linkedin-page", reason="revoked", status="disconnected"
    )

    await service.publish(event)

    [mail] = await mails_to(service, address, 1)
    feed = await service.feed(ws)
    [note] = feed["items"]
    assert feed["unread_count"] == 1
    assert note["kind"] == "account_disconnected"
    assert note["account_id"] == str(event.payload.account_id)
    assert note["title"] == "LinkedIn Page account needs to be reconnected"
    assert "access to it was revoked" in note["body"]
    assert not note["read"]

    assert mail["Subject"] == "LinkedIn Page account needs to be reconnected"
    assert mail["Message-ID"].endswith("@notifier.mooring>")
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    reconnect = f"https://app.example/w/{ws}/accounts/{event.payload.account_id}/reconnect"
    assert reconnect in text
    assert f'href="{reconnect}"' in html

    [delivery] = await service.deliveries(ws)
    assert delivery["status"] == "sent"
    assert delivery["recipient"] == address
    assert delivery["notification_ids"] == [note["id"]]
    await asyncio.sleep(2)  # a second mail or notification would have shown by now
    assert len(service.smtp.to(address)) == 1
    assert len((await service.feed(ws))["items"]) == 1


async def test_the_same_event_three_times_and_a_repeated_sweep_still_give_one_of_each(service):
    ws = uuid.uuid4()
    address = owner_address(ws)
    await service.set_owner(ws, address)
    event = account_disconnected(ws)
    # The same event id three times (a redelivery), then the same incident under new ids: a
    # repeated sweep, and the escalation a later run reports for the account still broken.
    again = account_disconnected(ws, event.payload.account_id, at=event.payload.disconnected_at)
    later = account_disconnected(
        ws, event.payload.account_id, reason="refresh_failed", status="disconnected"
    )

    await service.publish(event, event, event, again, later)

    await mails_to(service, address, 1)
    await asyncio.sleep(3)
    assert len(service.smtp.to(address)) == 1
    assert len((await service.feed(ws))["items"]) == 1
    [delivery] = await service.deliveries(ws)
    assert delivery["status"] == "sent"


async def test_a_check_run_failing_four_accounts_sends_one_summary_listing_the_four(service):
    ws = uuid.uuid4()
    address = owner_address(ws)
    await service.set_owner(ws, address)
    run = uuid.uuid4()
    platforms = ["x", "bluesky", "youtube", "threads"]
    events = [
        account_disconnected(ws, platform=p, platform_account_id=f"{p}-acct", check_run_id=run)
        for p in platforms
    ]

    await service.publish(*events)

    [mail] = await mails_to(service, address, 1)
    await asyncio.sleep(3)
    assert len(service.smtp.to(address)) == 1
    assert mail["Subject"] == "4 accounts need to be reconnected"
    text = mail.get_body(("plain",)).get_content()
    for name, e in zip(["X", "Bluesky", "YouTube", "Threads"], events, strict=True):
        assert f"{name} " in text
        assert f"/accounts/{e.payload.account_id}/reconnect" in text
    feed = await service.feed(ws)
    assert len(feed["items"]) == 4  # in-app: one per incident
    assert {n["data"]["check_run_id"] for n in feed["items"]} == {str(run)}
    [delivery] = await service.deliveries(ws)
    assert delivery["template"] == "connections_digest"
    assert len(delivery["notification_ids"]) == 4


async def test_an_smtp_outage_delays_the_mail_which_then_arrives_once(service):
    ws = uuid.uuid4()
    address = owner_address(ws)
    await service.set_owner(ws, address)
    service.smtp.stop()
    try:
        await service.publish(account_disconnected(ws))

        async def delivery():
            return await service.deliveries(ws)

        waiting = await eventually(
            delivery, lambda found: bool(found) and found[0]["attempts"] >= 2, timeout_s=30
        )
        assert waiting[0]["status"] in {"pending", "sending"}
        assert waiting[0]["last_error"]
        assert waiting[0]["last_code"] is None
    finally:
        service.smtp.start()

    await mails_to(service, address, 1)
    await asyncio.sleep(3)
    assert len(service.smtp.to(address)) == 1
    [sent] = await service.deliveries(ws)
    assert sent["status"] == "sent"


async def test_a_550_rejection_is_recorded_and_not_retried(service):
    ws = uuid.uuid4()
    address = owner_address(ws)
    await service.set_owner(ws, address)
    service.smtp.handler.refuse = "550 5.1.1 No such mailbox"
    try:
        await service.publish(account_disconnected(ws))

        async def delivery():
            return await service.deliveries(ws)

        [failed] = await eventually(
            delivery, lambda found: bool(found) and found[0]["status"] == "failed"
        )
    finally:
        service.smtp.handler.refuse = None
    assert failed["last_code"] == 550
    assert "No such mailbox" in failed["last_error"]
    assert failed["attempts"] == 1
    await asyncio.sleep(3)  # several back-off periods of the test settings
    [still] = await service.deliveries(ws)
    assert still["status"] == "failed"
    assert still["attempts"] == 1
    assert service.smtp.to(address) == []
    assert len((await service.feed(ws))["items"]) == 1  # the in-app notification stays


async def test_with_email_off_the_owner_gets_the_notification_in_app_only(service):
    ws = uuid.uuid4()
    address = owner_address(ws)
    await service.set_owner(ws, address)
    r = await service.http.patch(
        f"/v1/workspaces/{ws}/notification-preferences",
        json={"account_disconnected": False},
        headers=service.user(ws, "owner"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["email"]["account_disconnected"] is False

    await service.publish(account_disconnected(ws))

    async def feed():
        return (await service.feed(ws))["items"]

    await eventually(feed, lambda items: len(items) == 1)
    await asyncio.sleep(3)
    assert service.smtp.to(address) == []
    assert await service.deliveries(ws) == []


async def test_without_an_owner_the_mail_is_held_then_sent_once_when_the_owner_is_known(service):
    ws = uuid.uuid4()
    address = owner_address(ws)
    await service.publish(account_disconnected(ws), account_disconnected(ws))

    async def deliveries():
        return await service.deliveries(ws)

    held = await eventually(deliveries, lambda found: len(found) == 2)
    assert {d["status"] for d in held} == {"held"}
    assert len((await service.feed(ws))["items"]) == 2
    await asyncio.sleep(1)
    assert service.smtp.to(address) == []

    await service.publish(owner_changed(ws, address), owner_changed(ws, address))

    await mails_to(service, address, 2)
    await asyncio.sleep(3)
    assert len(service.smtp.to(address)) == 2
    assert {d["status"] for d in await service.deliveries(ws)} == {"sent"}


async def test_the_newest_owner_gets_the_mail_whatever_order_the_changes_arrive_in(service):
    ws = uuid.uuid4()
    old, new = owner_address(ws), f"new-{owner_address(ws)}"
    now = utcnow()
    await service.publish(
        owner_changed(ws, new, at=now), owner_changed(ws, old, at=now - timedelta(days=1))
    )

    async def owner():
        r = await service.http.get(
            f"/internal/v1/workspaces/{ws}/owner", headers=service.internal()
        )
        return r.json() if r.status_code == 200 else None

    await eventually(owner, lambda found: found is not None and found["email"] == new)
    await asyncio.sleep(1)
    assert (await owner())["email"] == new
    await service.publish(account_disconnected(ws))
    await mails_to(service, new, 1)
    assert service.smtp.to(old) == []


async def test_a_recovery_after_a_reported_failure_says_working_again(service):
    ws = uuid.uuid4()
    address = owner_address(ws)
    await service.set_owner(ws, address)
    failure = account_disconnected(ws, platform="x")
    account = failure.payload.account_id
    await service.publish(failure)
    await mails_to(service, address, 1)

    await service.publish(account_updated(ws, account, platform="x"))

    [_, mail] = await mails_to(service, address, 2)
    assert mail["Subject"] == "X account is working again"
    feed = await service.feed(ws)
    kinds = [n["kind"] for n in feed["items"]]
    assert kinds == ["account_recovered", "account_disconnected"]
    assert feed["items"][1]["resolved"] is True

    # A reconnect of an account nobody was told about is not news.
    quiet_ws = uuid.uuid4()
    await service.publish(account_connected(quiet_ws, uuid.uuid4(), reconnected=True))
    # ...and the account failing again is a new incident.
    await service.publish(account_disconnected(ws, account, platform="x"))
    await mails_to(service, address, 3)
    await asyncio.sleep(2)
    assert (await service.feed(quiet_ws))["items"] == []
    assert len((await service.feed(ws))["items"]) == 3


async def test_reconnect_reminders_come_once_per_threshold(service):
    ws = uuid.uuid4()
    address = owner_address(ws)
    await service.set_owner(ws, address)
    account = uuid.uuid4()
    expires = utcnow() + timedelta(days=14)
    fourteen = token_expiring(ws, account, expires_at=expires, reminder_days=14)
    await service.publish(
        fourteen,
        token_expiring(ws, account, expires_at=expires, reminder_days=14),  # the next sweep
        token_expiring(ws, account, expires_at=expires, reminder_days=3),
        token_expiring(ws, uuid.uuid4(), expires_at=expires, refreshable=True),
    )

    mails = await mails_to(service, address, 2)
    await asyncio.sleep(3)
    assert len(service.smtp.to(address)) == 2
    assert sorted(m["Subject"] for m in mails) == [
        "Reconnect your LinkedIn account within 14 days",
        "Reconnect your LinkedIn account within 3 days",
    ]
    feed = await service.feed(ws)
    assert [n["kind"] for n in feed["items"]] == ["reconnect_reminder"] * 2


async def test_post_failures_of_one_account_are_grouped_within_the_cooldown(service):
    ws = uuid.uuid4()
    address = owner_address(ws)
    await service.set_owner(ws, address)
    account = uuid.uuid4()
    first = post_failed(ws, account, error="media rejected")
    await service.publish(
        first,
        post_failed(ws, account, error="rate limited"),
        post_stuck(ws, account, delivery_id=first.payload.delivery_id),  # the same failure
        post_failed(ws, account, error="duplicate content"),
    )

    [mail] = await mails_to(service, address, 1)
    await asyncio.sleep(3)
    assert len(service.smtp.to(address)) == 1
    [note] = (await service.feed(ws))["items"]
    assert note["kind"] == "posts_failed"
    assert note["data"]["post_count"] == 3
    assert note["body"].startswith("3 posts could not be published to X.")
    text = mail.get_body(("plain",)).get_content()
    for error in ("media rejected", "rate limited", "duplicate content"):
        assert error in text
