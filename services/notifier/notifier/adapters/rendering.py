"""E-mails from Jinja2 templates: an HTML body (autoescaped) and a plain-text one.

Everything a template shows comes from notification rows (texts built by `domain.texts`, free
text already cleaned) and links built from the settings' templates with UUIDs; autoescaping
keeps a display name like `<script>` inert in the HTML part. The `Message-ID` is derived from
the delivery id, so a mail sent twice (a worker that died after the server accepted it) can be
recognised as the same mail by the receiving side.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from notifier.adapters.port import NotificationRow
from notifier.domain.kinds import Template
from notifier.domain.links import Links
from notifier.domain.texts import account_label, digest_subject, reason_text, subject

__all__ = ["MailRenderer"]

_TEMPLATES = Path(__file__).resolve().parent / "templates"


def _item(row: NotificationRow, links: Links) -> dict[str, Any]:
    data = row.data
    return {
        **data,
        "title": row.title,
        "body": row.body,
        "account": account_label(data),
        "reason": reason_text(data.get("reason")),
        "platform_name": data.get("platform_name", data.get("platform", "")),
        "posts": data.get("posts", []),
        "post_count": int(data.get("post_count", 0)),
        "reconnect_url": links.reconnect_url(row.workspace_id, row.account_id)
        if row.account_id is not None
        else links.accounts_url(row.workspace_id),
    }


class MailRenderer:
    def __init__(self, links: Links, sender: str, *, domain: str = "notifier.mooring") -> None:
        self._links = links
        self._sender = sender
        self._domain = domain
        self._env = Environment(
            loader=FileSystemLoader(_TEMPLATES),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )

    def render(
        self,
        template: Template,
        *,
        delivery_id: uuid.UUID,
        workspace_id: uuid.UUID,
        recipient: str,
        rows: Sequence[NotificationRow],
    ) -> EmailMessage:
        """The message for `rows` (one notification, or a digest's several)."""
        items = [_item(row, self._links) for row in rows]
        if template == "connections_digest":
            title = digest_subject([row.data for row in rows])
        else:
            title = subject(rows[0].kind, rows[0].data)
        context = {
            "subject": title,
            "items": items,
            "item": items[0],
            "accounts_url": self._links.accounts_url(workspace_id),
            "preferences_url": self._links.preferences_url(workspace_id),
        }
        message = EmailMessage()
        message["Subject"] = title
        message["From"] = self._sender
        _, address = parseaddr(recipient)
        message["To"] = Address(addr_spec=address)
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{delivery_id}@{self._domain}>"
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        message.set_content(self._env.get_template(f"{template}.txt").render(context))
        message.add_alternative(
            self._env.get_template(f"{template}.html").render(context), subtype="html"
        )
        return message
