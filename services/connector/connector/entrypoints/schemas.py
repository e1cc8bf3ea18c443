"""HTTP request and response bodies (the OpenAPI contract of the connector).

Every request field is bounded (`mooring.service.fields`): lengths, no control characters, the
platform one of the twelve. No response model has a field that could hold a token.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool

from connector.domain.platforms import AuthKind, PlatformInfo
from connector.domain.sessions import PendingCandidate, ViewStatus
from connector.service_layer.connect import ConnectionView, Started
from mooring.accounts import Account, AccountStatus
from mooring.accounts.port import AccountCursor
from mooring.service.fields import PlatformId, Text256, Text2048

__all__ = [
    "AccountOut",
    "AccountPageOut",
    "AccountPatch",
    "BlueskyIn",
    "ConnectIn",
    "ConnectionOut",
    "ConnectionStartedOut",
    "PlatformOut",
    "SelectionIn",
    "SelectionOut",
    "decode_cursor",
    "encode_cursor",
]

_STRICT = ConfigDict(extra="forbid", hide_input_in_errors=True)


class PlatformOut(BaseModel):
    id: PlatformId
    display_name: str
    auth_method: AuthKind = Field(
        description="oauth2; app_password (Bluesky: handle + app password); instance_oauth2 "
        "(Mastodon: OAuth on the instance the user names)."
    )
    selection: bool = Field(description="Whether a selection step follows the callback.")
    selection_kind: str | None = Field(
        description="organisations, pages, instagram_via_page or channels."
    )
    refresh_model: str = Field(
        description="rotating, non_rotating, extend_in_place, session or none."
    )
    pkce: bool
    account_types: list[str]

    @classmethod
    def of(cls, info: PlatformInfo) -> PlatformOut:
        return cls.model_validate({**info.__dict__, "account_types": list(info.account_types)})


class ConnectIn(BaseModel):
    model_config = _STRICT

    platform: PlatformId
    redirect_url: Text2048 = Field(description="Where the user lands after the callback.")
    instance_url: Text2048 | None = Field(
        default=None, description="Mastodon only: the instance, e.g. https://mastodon.social."
    )
    reconnect_account_id: uuid.UUID | None = Field(
        default=None,
        description="Reconnect this account in place (never refused by the plan limit); a "
        "different account signing in answers error=wrong_account and changes nothing.",
    )


class ConnectionStartedOut(BaseModel):
    connection_id: uuid.UUID
    authorization_url: str
    state: str = Field(description="Single use, bound to this workspace, user and platform.")
    expires_at: datetime

    @classmethod
    def of(cls, started: Started) -> ConnectionStartedOut:
        return cls(
            connection_id=started.connection_id,
            authorization_url=started.authorization_url,
            state=started.state,
            expires_at=started.expires_at,
        )


class CandidateOut(BaseModel):
    id: str
    account_type: str
    name: str | None
    username: str | None
    avatar_url: str | None
    parent_id: str | None = Field(description="The Facebook page behind an Instagram account.")
    connected: bool = Field(description="The workspace already has it (picking reconnects it).")

    @classmethod
    def of(cls, candidate: PendingCandidate, connected: bool) -> CandidateOut:
        return cls(**candidate.to_json(), connected=connected)


class ConnectionOut(BaseModel):
    connection_id: uuid.UUID
    platform: PlatformId
    status: ViewStatus
    expires_at: datetime
    candidates: list[CandidateOut] = Field(description="Only while the status is selecting.")
    account_ids: list[uuid.UUID] = Field(description="The accounts it made, once completed.")
    error: str | None = Field(description="Why it failed: the same code as the callback's.")

    @classmethod
    def of(cls, view: ConnectionView) -> ConnectionOut:
        session = view.session
        status = session.view_status
        candidates = session.candidates if status == "selecting" else ()
        return cls(
            connection_id=session.id,
            platform=session.platform,
            status=status,
            expires_at=session.expires_at,
            candidates=[CandidateOut.of(c, c.id in view.connected_ids) for c in candidates],
            account_ids=list(session.account_ids),
            error=session.error,
        )


class SelectionIn(BaseModel):
    model_config = _STRICT

    candidate_ids: list[Text256] = Field(min_length=1, max_length=50)


class BlueskyIn(BaseModel):
    model_config = _STRICT

    handle: Text256 = Field(description="alice.bsky.social, or a DID.")
    app_password: SecretStr = Field(
        min_length=1,
        max_length=64,
        description="An App Password (xxxx-xxxx-xxxx-xxxx), never the account's password.",
    )
    reconnect_account_id: uuid.UUID | None = None


class AccountOut(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    platform: PlatformId
    platform_account_id: str
    account_type: str
    username: str | None
    display_name: str | None
    avatar_url: str | None
    status: AccountStatus
    active: bool
    service_url: str | None = Field(description="Bluesky PDS or Mastodon instance.")
    parent_id: str | None = Field(description="The Facebook page behind an Instagram account.")
    token_expires_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        parent = account.meta.get("parent_id")
        return cls(
            id=account.id,
            workspace_id=account.workspace_id,
            platform=account.platform,
            platform_account_id=account.platform_account_id,
            account_type=account.account_type,
            username=account.username,
            display_name=account.display_name,
            avatar_url=account.avatar_url,
            status=account.status,
            active=account.active,
            service_url=account.service_url,
            parent_id=parent if isinstance(parent, str) else None,
            token_expires_at=account.token_expires_at,
            created_at=account.created_at,
            updated_at=account.updated_at,
        )


class AccountPageOut(BaseModel):
    items: list[AccountOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class SelectionOut(BaseModel):
    accounts: list[AccountOut]


class AccountPatch(BaseModel):
    model_config = _STRICT

    active: StrictBool


def encode_cursor(cursor: AccountCursor) -> str:
    raw = f"{cursor.created_at.isoformat()}|{cursor.account_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> AccountCursor:
    """Raises ValueError for anything that is not a cursor this service made."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        created, account_id = raw.split("|", 1)
        when = datetime.fromisoformat(created)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor") from None
    if when.tzinfo is None:
        raise ValueError("not a cursor")
    return AccountCursor(created_at=when, account_id=uuid.UUID(account_id))
