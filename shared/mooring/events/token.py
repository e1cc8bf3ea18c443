"""Token lifecycle events; keyed by account id. They never carry a token."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from mooring.events.base import Event

__all__ = ["TokenExpiring", "TokenRefreshed"]


class TokenExpiring(Event):
    event_type: ClassVar[str] = "token.expiring"
    key_field: ClassVar[str] = "account_id"

    schema_version: Literal[1] = 1
    account_id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str
    expires_at: AwareDatetime
    refreshable: bool = Field(
        description="False when the platform gives no refresh path (the owner must reconnect)."
    )
    reminder_days: int | None = Field(
        default=None,
        description="For a reconnect reminder (refreshable false): the threshold it is sent at, "
        "in days before expiry (e.g. 14 or 3); one reminder per threshold.",
    )
    sweep_id: uuid.UUID | None = Field(
        default=None, description="The refresh sweep that found the account due."
    )


class TokenRefreshed(Event):
    event_type: ClassVar[str] = "token.refreshed"
    key_field: ClassVar[str] = "account_id"

    schema_version: Literal[1] = 1
    account_id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str
    expires_at: AwareDatetime | None
    refreshed_at: AwareDatetime
