"""What people read: in-app titles and bodies, and e-mail subject lines, from a notification's
data. One place, so the in-app list and the e-mail say the same thing.

The data holds only what the events said (platform, a display name, a reason code, post ids, an
error already passed through `clean_text`), never a token: the events carry none, and free text
is redacted before it gets here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from notifier.domain.kinds import Kind, platform_name

__all__ = ["account_label", "digest_subject", "reason_text", "subject", "title_and_body"]

_REASONS = {
    "token_expired": "its session expired",
    "revoked": "access to it was revoked",
    "refresh_failed": "its access could not be renewed",
}


def reason_text(reason: str | None) -> str:
    return _REASONS.get(reason or "", "it stopped working")


def account_label(data: Mapping[str, Any]) -> str:
    """'LinkedIn Page "ACME"' or just 'LinkedIn Page' when nothing names the account."""
    name = platform_name(str(data.get("platform", "")))
    label = data.get("label")
    return f'{name} "{label}"' if label else name


def _date(value: Any) -> str:
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when.strftime("%d %b %Y").lstrip("0")


def title_and_body(kind: Kind, data: Mapping[str, Any]) -> tuple[str, str]:
    """The in-app notification's title and body."""
    name = platform_name(str(data.get("platform", "")))
    account = account_label(data)
    if kind == "account_disconnected":
        return (
            f"{name} account needs to be reconnected",
            (
                f"{account} stopped working: {reason_text(data.get('reason'))}. "
                "Reconnect it to keep publishing."
            ),
        )
    if kind == "account_recovered":
        return f"{name} account is working again", f"{account} is connected again."
    if kind == "reconnect_reminder":
        days = data.get("reminder_days")
        when = _date(data["expires_at"])
        title = (
            f"Reconnect your {name} account within {days} days"
            if days
            else f"Reconnect your {name} account soon"
        )
        return (
            title,
            (
                f"The access Mooring holds for {account} ends on {when}, and {name} offers no "
                "way to renew it automatically. Reconnect it before then to keep publishing."
            ),
        )
    count = int(data.get("post_count", 1))
    posts = "1 post" if count == 1 else f"{count} posts"
    error = data.get("last_error")
    body = f"{posts} could not be published to {account}."
    if error:
        body += f" Last error: {error}"
    return f"Posts failed on {name}", body


def subject(kind: Kind, data: Mapping[str, Any]) -> str:
    """The e-mail subject for one notification."""
    return title_and_body(kind, data)[0]


def digest_subject(items: Sequence[Mapping[str, Any]]) -> str:
    """The daily check's summary: one subject for every account it found failing."""
    if len(items) == 1:
        return subject("account_disconnected", items[0])
    return f"{len(items)} accounts need to be reconnected"
