"""Events about the account aggregate; keyed by account id so one account's history is ordered."""

from __future__ import annotations

import uuid
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from mooring.events.base import Event

__all__ = [
    "AccountConnected",
    "AccountDisconnected",
    "AccountStatus",
    "AccountUpdated",
    "DisconnectReason",
]

AccountStatus = Literal["connected", "token_expired", "disconnected"]
DisconnectReason = Literal["removed", "token_expired", "revoked", "refresh_failed"]


class AccountConnected(Event):
    event_type: ClassVar[str] = "account.connected"
    key_field: ClassVar[str] = "account_id"

    schema_version: Literal[1] = 1
    account_id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str = Field(description="Platform identifier, e.g. 'linkedin-page'.")
    platform_account_id: str
    account_type: str | None = Field(
        default=None, description="personal, organisation, page, business or channel."
    )
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
    status: AccountStatus | None = Field(
        default=None, description="The status after the change (always set when it changed)."
    )
    changed: list[str] = Field(
        description="Names of the fields that changed, e.g. ['active'] or ['status']."
    )
    check_run_id: uuid.UUID | None = Field(
        default=None, description="The connection check run that found the change, if any."
    )
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
    status: AccountStatus | None = Field(
        default=None,
        description="The account's status now (token_expired or disconnected); "
        "absent when the account was removed.",
    )
    check_run_id: uuid.UUID | None = Field(
        default=None,
        description="The connection check run that found it, so one summary per run is possible.",
    )
    disconnected_at: AwareDatetime
