"""Events about the account aggregate; keyed by account id so one account's history is ordered."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from mooring.events.base import Event

__all__ = ["AccountConnected", "AccountDisconnected", "AccountUpdated", "DisconnectReason"]

DisconnectReason = Literal["removed", "token_expired", "revoked", "refresh_failed"]


class AccountConnected(Event):
    event_type: ClassVar[str] = "account.connected"
    key_field: ClassVar[str] = "account_id"

    schema_version: Literal[1] = 1
    account_id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str = Field(description="Platform identifier, e.g. 'linkedin-page'.")
    platform_account_id: str
    username: str | None = None
    display_name: str | None = None
    reconnected: bool = Field(
        default=False, description="True when an account the workspace already had was reconnected."
    )
    connected_at: AwareDatetime


class AccountUpdated(Event):
    event_type: ClassVar[str] = "account.updated"
    key_field: ClassVar[str] = "account_id"

    schema_version: Literal[1] = 1
    account_id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str
    active: bool
    changed: list[str] = Field(description="Names of the fields that changed, e.g. ['active'].")
    updated_at: AwareDatetime


class AccountDisconnected(Event):
    event_type: ClassVar[str] = "account.disconnected"
    key_field: ClassVar[str] = "account_id"

    schema_version: Literal[1] = 1
    account_id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str
    platform_account_id: str
    reason: DisconnectReason
    disconnected_at: AwareDatetime
