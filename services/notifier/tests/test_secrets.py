"""No token or secret in any e-mail, notification or log line: planted in every field of the
events that carries free text, then looked for everywhere the notifier writes."""

import asyncio
import json
import logging
import uuid

import pytest

from mooring.logs import JsonFormatter
from notifier.testing import (
    account_connected,
    account_disconnected,
    eventually,
    post_failed,
    post_stuck,
)

pytestmark = [pytest.mark.integration, pytest.mark.connected]

SECRETS = [
    "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "ya29.a0AfH6SMBxSECRETaccess",
    "1//0gSECRETREFRESHxyz",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzZWNyZXQifQ.c2lnbmF0dXJlc2VjcmV0",
    "app-pass-SECRET-9999",
]


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


async def test_no_token_or_secret_reaches_a_notification_an_email_or_a_log(service, caplog):
    caplog.set_level(logging.INFO)
    ws = uuid.uuid4()
    address = f"owner-{ws.hex[:12]}@example.com"
    await service.set_owner(ws, address)
    account, poster = uuid.uuid4(), uuid.uuid4()
    s0, s1, s2, s3, s4 = SECRETS
    await service.publish(
        account_connected(
            ws, account, display_name=f"ACME Bearer {s0}", username=f"access_token={s1}"
        ),
        account_disconnected(ws, account, platform_account_id=f"refresh_token: {s2}"),
        account_disconnected(ws, platform_account_id=f"app_password={s4}"),
        post_failed(ws, poster, error=f"401: Authorization: Bearer {s0} token={s1} {s3}"),
        post_stuck(ws, poster, reason=f"gave up; client_secret={s2}"),
    )

    async def mails():
        return service.smtp.to(address)

    got = await eventually(mails, lambda found: len(found) >= 3)
    await asyncio.sleep(2)

    feed = await service.feed(ws)
    assert len(feed["items"]) == 3
    shown = json.dumps(feed)
    assert "[redacted]" in shown  # the planted strings were there, and were scrubbed
    assert leaks(shown) == []

    rows = await service.rows(
        "SELECT title || body || data::text AS txt FROM notifier_notifications "
        "WHERE workspace_id = :ws UNION ALL SELECT coalesce(last_error, '') FROM "
        "notifier_deliveries WHERE workspace_id = :ws",
        ws=ws,
    )
    assert leaks(" ".join(r.txt for r in rows)) == []

    for mail in got:
        parts = [mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()]
        parts += [f"{k}: {v}" for k, v in mail.items()]
        assert leaks("\n".join(parts)) == []
    assert leaks(b"".join(service.smtp.handler.raw).decode(errors="replace")) == []

    formatter = JsonFormatter("notifier")
    lines = [formatter.format(r) for r in caplog.records]
    raw = [r.getMessage() + repr(vars(r)) for r in caplog.records]
    assert lines, "the service logged nothing at all: the scan would prove nothing"
    assert leaks("\n".join(lines)) == []
    assert leaks("\n".join(raw)) == []
