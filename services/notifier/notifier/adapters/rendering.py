"""E-mails from Jinja2 templates: an HTML body (autoescaped) and a plain-text one.

Everything a template shows comes from notification rows (texts built by `domain.texts`, free
text already cleaned) and links built from the settings' templates with UUIDs; autoescaping
keeps a display name like `<script>` inert in the HTML part. The `Message-ID` is derived from
the delivery id, so a mail sent twice (a worker that died after the server accepted it) can be
recognised as the same mail by the receiving side.

The message is built with the `email` package's classic MIME classes and serialised once, here:
the modern `EmailMessage` API parses every header through its registry and was most of the CPU
an e-mail cost (about 4 ms, twice what the SMTP exchange itself takes). Bodies are UTF-8 in
quoted-printable, readable as they are in the .eml files `make run` writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from notifier.adapters.mail import OutgoingMail
from notifier.adapters.port import NotificationRow
from notifier.domain.kinds import Template
from notifier.domain.links import Links
from notifier.domain.texts import account_label, digest_subject, reason_text, subject

__all__ = ["MailRenderer"]

_TEMPLATES = Path(__file__).resolve().parent / "templates"


def _utf8_qp() -> Charset:
    charset = Charset("utf-8")
    charset.header_encoding = QP
    charset.body_encoding = QP
    return charset


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


def _header(value: str, charset: Charset) -> str:
    """A header value as written: RFC 2047-encoded when it is not plain ASCII."""
    return value if value.isascii() else Header(value, charset).encode()


class MailRenderer:
    def __init__(self, links: Links, sender: str, *, domain: str = "notifier.mooring") -> None:
        self._links = links
        name, self._sender_address = parseaddr(sender)
        self._charset = _utf8_qp()
        self._from = formataddr((name, self._sender_address), charset="utf-8")
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
    ) -> OutgoingMail:
        """The mail for `rows` (one notification, or a digest's several)."""
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
        _, address = parseaddr(recipient)
        message = MIMEMultipart("alternative")
        message["Subject"] = _header(title, self._charset)
        message["From"] = self._from
        message["To"] = address
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{delivery_id}@{self._domain}>"
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        for subtype in ("plain", "html"):
            part = MIMENonMultipart("text", subtype)
            suffix = "txt" if subtype == "plain" else "html"
            part.set_payload(
                self._env.get_template(f"{template}.{suffix}").render(context), self._charset
            )
            message.attach(part)
        return OutgoingMail(self._sender_address, address, message.as_bytes())
