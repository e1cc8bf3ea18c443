"""The notifier end to end: real Kafka events in, real PostgreSQL rows, real SMTP mail out."""

import asyncio
import uuid

import pytest

from notifier.testing import account_disconnected, eventually

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
