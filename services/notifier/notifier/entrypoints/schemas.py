"""HTTP request and response bodies (the OpenAPI contract of the notifier)."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
)

from mooring.service.fields import Timestamp
from notifier.adapters.port import DeliveryView, FeedCursor, NotificationRow, Owner
from notifier.domain.incidents import DeliveryStatus
from notifier.domain.kinds import KINDS, Kind, Template

__all__ = [
    "Cursor",
    "DeliveryOut",
    "InvalidCursorError",
    "NotificationOut",
    "NotificationPageOut",
    "OwnerIn",
    "OwnerOut",
    "PreferencesIn",
    "PreferencesOut",
    "UnreadOut",
    "decode_cursor",
    "encode_cursor",
]

# An opaque page cursor: base64url of "<created_at ISO>|<id>", bounded and checked.
Cursor = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_=-]+$")
]


class InvalidCursorError(ValueError):
    pass


def encode_cursor(cursor: FeedCursor) -> str:
    raw = f"{cursor.created_at.isoformat()}|{cursor.id}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(value: str) -> FeedCursor:
    try:
        created, _, ident = base64.urlsafe_b64decode(value.encode()).decode().partition("|")
        when = datetime.fromisoformat(created)
        if when.tzinfo is None:
            raise InvalidCursorError("the cursor is not one this service gave out")
        return FeedCursor(when, uuid.UUID(ident))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursorError("the cursor is not one this service gave out") from exc


class NotificationOut(BaseModel):
    id: uuid.UUID
    kind: Kind
    title: str
    body: str
    account_id: uuid.UUID | None
    platform: str | None
    occurred_at: datetime = Field(description="When the incident happened (the event's time).")
    created_at: datetime
    read: bool = Field(description="Read by the caller (read state is per user).")
    resolved: bool = Field(description="A failure that has since recovered or been removed.")
    data: dict[str, Any] = Field(
        description="The incident's details: platform, label, reason, check_run_id, "
        "reminder_days, expires_at, post_count, posts (the last ones), last_error."
    )

    @classmethod
    def of(cls, row: NotificationRow) -> NotificationOut:
        return cls(
            id=row.id,
            kind=row.kind,
            title=row.title,
            body=row.body,
            account_id=row.account_id,
            platform=row.data.get("platform"),
            occurred_at=row.occurred_at,
            created_at=row.created_at,
            read=row.read,
            resolved=row.resolved_at is not None,
            data=row.data,
        )


class NotificationPageOut(BaseModel):
    items: list[NotificationOut]
    unread_count: int = Field(description="Unread notifications of the workspace for the caller.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page.")


class UnreadOut(BaseModel):
    unread_count: int


class PreferencesIn(BaseModel):
    """E-mail on (true) or off (false) per kind; kinds left out keep their setting."""

    model_config = ConfigDict(extra="forbid")

    account_disconnected: StrictBool | None = None
    reconnect_reminder: StrictBool | None = None
    account_recovered: StrictBool | None = None
    posts_failed: StrictBool | None = None

    def changes(self) -> dict[Kind, bool]:
        values: dict[Kind, bool | None] = {kind: getattr(self, kind) for kind in KINDS}
        return {kind: value for kind, value in values.items() if value is not None}


class PreferencesOut(BaseModel):
    workspace_id: uuid.UUID
    email: dict[Kind, bool] = Field(
        description="E-mail per kind; in-app notifications are always kept."
    )


class OwnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID
    email: Annotated[EmailStr, Field(max_length=254)]
    changed_at: Timestamp | None = Field(
        default=None, description="When the owner changed; the newest change wins. Default: now."
    )


class OwnerOut(BaseModel):
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    changed_at: datetime
    applied: bool | None = Field(
        default=None, description="On a change: false when a newer owner was already recorded."
    )
    released: int | None = Field(
        default=None, description="On a change: held e-mails now on their way."
    )

    @classmethod
    def of(cls, owner: Owner, **extra: Any) -> OwnerOut:
        return cls(
            workspace_id=owner.workspace_id,
            user_id=owner.user_id,
            email=owner.email,
            changed_at=owner.changed_at,
            **extra,
        )


class DeliveryOut(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    template: Template
    group_key: str | None
    status: DeliveryStatus
    attempts: int
    not_before: datetime = Field(description="Next attempt (pending) or lease end (sending).")
    last_code: int | None = Field(description="The SMTP reply code of the last refusal.")
    last_error: str | None
    recipient: str | None = Field(description="Who it was sent to, once sent.")
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    notification_ids: list[uuid.UUID]

    @classmethod
    def of(cls, view: DeliveryView) -> DeliveryOut:
        return cls(**view.__dict__)
