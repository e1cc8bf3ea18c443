"""E-mails from the templates: both bodies, the call to action, escaping, headers."""

import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

from notifier.adapters.port import NotificationRow
from notifier.adapters.rendering import MailRenderer
from notifier.domain.links import Links
from notifier.domain.texts import title_and_body

LINKS = Links(
    "https://app.example/w/{workspace_id}/accounts/{account_id}/reconnect",
    "https://app.example/w/{workspace_id}/accounts",
    "https://app.example/w/{workspace_id}/settings/notifications",
)
WS = uuid.uuid4()
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def row(kind="account_disconnected", **data) -> NotificationRow:
    data = {"platform": "x", "platform_name": "X", "label": None, "reason": "revoked"} | data
    title, body = title_and_body(kind, data)
    return NotificationRow(
        id=uuid.uuid4(),
        workspace_id=WS,
        account_id=uuid.uuid4(),
        kind=kind,
        title=title,
        body=body,
        data=data,
        occurred_at=NOW,
        created_at=NOW,
    )


def render(template, rows):
    renderer = MailRenderer(LINKS, "Mooring <notifications@mooring.test>")
    delivery = uuid.uuid4()
    mail = renderer.render(
        template, delivery_id=delivery, workspace_id=WS, recipient="owner@example.com", rows=rows
    )
    assert (mail.sender, mail.recipient) == ("notifications@mooring.test", "owner@example.com")
    parsed = message_from_bytes(mail.data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed, delivery


def test_a_disconnect_mail_has_both_bodies_and_a_reconnect_button():
    note = row(label="ACME")
    mail, delivery = render("account_disconnected", [note])
    assert mail["Subject"] == "X account needs to be reconnected"
    assert mail["To"] == "owner@example.com"
    assert mail["Message-ID"] == f"<{delivery}@notifier.mooring>"
    assert mail["Auto-Submitted"] == "auto-generated"
    url = f"https://app.example/w/{WS}/accounts/{note.account_id}/reconnect"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert 'X "ACME" stopped working: access to it was revoked.' in text
    assert f"Reconnect X: {url}" in text
    assert f'<a href="{url}"' in html
    assert f"https://app.example/w/{WS}/settings/notifications" in text


def test_names_from_other_services_are_escaped_in_html_and_plain_in_text():
    note = row(label='<script>alert("x")</script>')
    mail, _ = render("account_disconnected", [note])
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert '<script>alert("x")</script>' in text


def test_the_digest_lists_every_account_with_its_own_link():
    notes = [row(platform=p, platform_name=n) for p, n in (("x", "X"), ("threads", "Threads"))]
    mail, _ = render("connections_digest", notes)
    assert mail["Subject"] == "2 accounts need to be reconnected"
    text = mail.get_body(("plain",)).get_content()
    for note in notes:
        assert f"/accounts/{note.account_id}/reconnect" in text
    assert "- X: access to it was revoked." in text
    assert "- Threads: access to it was revoked." in text


def test_grouped_post_failures_list_the_posts_kept_and_count_the_rest():
    posts = [{"post_id": f"p{i}", "error": f"e{i}"} for i in range(3)]
    note = row("posts_failed", post_count=5, posts=posts, last_error="e2")
    mail, _ = render("posts_failed", [note])
    text = mail.get_body(("plain",)).get_content()
    assert mail["Subject"] == "Posts failed on X"
    assert "5 posts could not be published to X. Last error: e2" in text
    assert "- Post p0: e0" in text
    assert "...and 2 more." in text


def test_a_name_outside_ascii_survives_in_the_subject_and_the_bodies():
    note = row(label="Café Zürich", platform="threads", platform_name="Threads")
    mail, _ = render("account_disconnected", [note])
    assert mail["Subject"] == "Threads account needs to be reconnected"
    assert 'Threads "Café Zürich" stopped working' in mail.get_body(("plain",)).get_content()
    assert "Café Zürich" in mail.get_body(("html",)).get_content()
