"""The account aggregate: a registry row, its sealed credentials, and its connection status.

State changes go through the aggregate's methods, which raise the events that report them
(`account.events`); the unit of work writes those to the outbox in the same transaction as the
row, so a status change and its event can never be separated.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from mooring.events.account import (
    AccountConnected,
    AccountDisconnected,
    AccountStatus,
    AccountUpdated,
    DisconnectReason,
)
from mooring.events.base import Event, utcnow
from mooring.events.token import TokenRefreshed

if TYPE_CHECKING:  # importing mooring.platforms here would load every adapter with the model
    from mooring.platforms.results import TokenSet

__all__ = ["Account", "AccountStatus", "Credentials"]


class Credentials(BaseModel):
    """Every secret of one account. SecretStr keeps them out of reprs, logs and tracebacks."""

    # extra="ignore": a newer release may add a field that this one must still load.
    # hide_input_in_errors: a validation error must never quote a token.
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    scopes: tuple[str, ...] = ()
    # Platform-specific secrets: Bluesky app password, Facebook user token, page tokens...
    extra: dict[str, SecretStr] = {}

    def to_plaintext(self) -> str:
        def reveal(value: SecretStr | None) -> str | None:
            return None if value is None else value.get_secret_value()

        return json.dumps(
            {
                "access_token": reveal(self.access_token),
                "refresh_token": reveal(self.refresh_token),
                "scopes": list(self.scopes),
                "extra": {k: v.get_secret_value() for k, v in self.extra.items()},
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_plaintext(cls, plaintext: str) -> Credentials:
        try:
            return cls.model_validate_json(plaintext)
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) or "<root>" for e in exc.errors())
            raise ValueError(f"stored credentials do not parse (fields: {fields})") from None

    def with_refresh(
        self, *, access_token: str, refresh_token: str | None, scopes: tuple[str, ...] = ()
    ) -> Credentials:
        """New tokens from a refresh; a missing refresh token keeps the stored one (never blank)."""
        return Credentials(
            access_token=SecretStr(access_token),
            refresh_token=SecretStr(refresh_token) if refresh_token else self.refresh_token,
            scopes=scopes or self.scopes,
            extra=self.extra,
        )


@dataclass
class Account:
    id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str
    platform_account_id: str
    credentials: Credentials = field(repr=False)
    account_type: str = "profile"
    username: str | None = None
    display_name: str | None = None
    avatar_url: str | None = None
    status: AccountStatus = "connected"
    active: bool = True
    version: int = 0  # 0 until first stored; the repository owns it afterwards
    token_expires_at: datetime | None = None
    token_issued_at: datetime | None = None
    service_url: str | None = None
    refreshed_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    next_refresh_at: datetime | None = None
    refresh_failures: int = 0
    refresh_failing_since: datetime | None = None
    last_refresh_failure_at: datetime | None = None
    last_failure: str | None = None
    auth_failures: int = 0
    last_checked_at: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Raised by the methods below and collected by the unit of work on commit; never stored.
    events: list[Event] = field(default_factory=list, repr=False, compare=False)

    # -- connect ------------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        *,
        workspace_id: uuid.UUID,
        platform: str,
        platform_account_id: str,
        credentials: Credentials,
        at: datetime | None = None,
        account_id: uuid.UUID | None = None,
        **details: Any,
    ) -> Account:
        """A newly connected account; raises `account.connected`."""
        account = cls(
            id=account_id or uuid.uuid4(),
            workspace_id=workspace_id,
            platform=platform,
            platform_account_id=platform_account_id,
            credentials=credentials,
            **details,
        )
        account.events.append(account._connected(reconnected=False, at=at or utcnow()))
        return account

    def reconnect(
        self, credentials: Credentials, *, at: datetime | None = None, **details: Any
    ) -> None:
        """The same identity authorised again: new secrets, status connected, failures cleared.

        The row keeps its id, its `active` flag and whatever the caller does not pass, so posts
        and settings that refer to it stay valid.
        """
        for name, value in details.items():
            if not hasattr(self, name) or name in {"id", "workspace_id", "platform", "events"}:
                raise AttributeError(f"reconnect cannot change {name!r}")
            setattr(self, name, value)
        self.credentials = credentials
        self.status = "connected"
        self.auth_failures = 0
        self.events.append(self._connected(reconnected=True, at=at or utcnow()))

    # -- tokens -------------------------------------------------------------------------------

    def tokens_refreshed(
        self,
        credentials: Credentials,
        *,
        expires_at: datetime | None,
        issued_at: datetime,
        at: datetime | None = None,
    ) -> None:
        """A refresh succeeded; raises `token.refreshed`. The status is left alone."""
        self.credentials = credentials
        self.token_expires_at = expires_at
        self.token_issued_at = issued_at
        self.refreshed_at = at or utcnow()
        self.events.append(
            TokenRefreshed(
                account_id=self.id,
                workspace_id=self.workspace_id,
                platform=self.platform,
                expires_at=expires_at,
                refreshed_at=self.refreshed_at,
            )
        )

    def store_tokens(
        self, tokens: TokenSet, *, at: datetime | None = None, refreshed: bool = True
    ) -> None:
        """Keep `tokens` (from a refresh, or a reconnect's exchange): credentials, expiry,
        issue time; the refresh-failure streak ends. A refresh raises `token.refreshed`."""
        from mooring.accounts.tokens import credentials_from  # noqa: PLC0415 - module cycle

        at = at or utcnow()
        self.refresh_expires_at = tokens.refresh_expires_at or self.refresh_expires_at
        self.service_url = tokens.service_url or self.service_url
        self.refresh_failures = 0
        self.refresh_failing_since = self.last_refresh_failure_at = None
        self.last_failure = None
        self.next_refresh_at = None
        credentials = credentials_from(tokens, previous=self.credentials)
        if refreshed:
            self.tokens_refreshed(
                credentials, expires_at=tokens.expires_at, issued_at=tokens.issued_at, at=at
            )
        else:
            self.credentials = credentials
            self.token_expires_at = tokens.expires_at
            self.token_issued_at = tokens.issued_at

    # -- status -------------------------------------------------------------------------------

    def set_active(self, active: bool, *, at: datetime | None = None) -> bool:
        """Toggle the flag; raises `account.updated` only when it really changed."""
        if self.active == active:
            return False
        self.active = active
        self.events.append(self._updated(["active"], at=at or utcnow()))
        return True

    def expire(
        self,
        reason: DisconnectReason,
        *,
        check_run_id: uuid.UUID | None = None,
        at: datetime | None = None,
    ) -> bool:
        """The token no longer works: `token_expired`. True if the status changed."""
        return self._leave("token_expired", reason, check_run_id, at or utcnow())

    def disconnect(
        self,
        reason: DisconnectReason,
        *,
        check_run_id: uuid.UUID | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Lost for good until the owner reconnects: `disconnected`. True if it changed."""
        return self._leave("disconnected", reason, check_run_id, at or utcnow())

    def recover(self, *, check_run_id: uuid.UUID | None = None, at: datetime | None = None) -> bool:
        """Working again: back to `connected`, raising `account.updated` (changed: status)."""
        if self.status == "connected":
            return False
        self.status = "connected"
        self.auth_failures = 0
        self.events.append(self._updated(["status"], at=at or utcnow(), check_run_id=check_run_id))
        return True

    def remove(self, *, at: datetime | None = None) -> None:
        """A user removed the account (the repository deletes the row in the same transaction)."""
        self.events.append(self._disconnected("removed", None, at or utcnow()))

    # -- events -------------------------------------------------------------------------------

    def _leave(
        self,
        status: AccountStatus,
        reason: DisconnectReason,
        check_run_id: uuid.UUID | None,
        at: datetime,
    ) -> bool:
        if self.status == status:
            return False
        was_connected = self.status == "connected"
        self.status = status
        if was_connected:
            # Leaving `connected` is the incident subscribers act on (the owner is told).
            self.events.append(self._disconnected(reason, check_run_id, at))
        else:
            self.events.append(self._updated(["status"], at=at, check_run_id=check_run_id))
        return True

    def _connected(self, *, reconnected: bool, at: datetime) -> AccountConnected:
        return AccountConnected(
            account_id=self.id,
            workspace_id=self.workspace_id,
            platform=self.platform,
            platform_account_id=self.platform_account_id,
            account_type=self.account_type,
            username=self.username,
            display_name=self.display_name,
            reconnected=reconnected,
            connected_at=at,
        )

    def _updated(
        self, changed: list[str], *, at: datetime, check_run_id: uuid.UUID | None = None
    ) -> AccountUpdated:
        return AccountUpdated(
            account_id=self.id,
            workspace_id=self.workspace_id,
            platform=self.platform,
            active=self.active,
            status=self.status,
            changed=changed,
            check_run_id=check_run_id,
            updated_at=at,
        )

    def _disconnected(
        self, reason: DisconnectReason, check_run_id: uuid.UUID | None, at: datetime
    ) -> AccountDisconnected:
        return AccountDisconnected(
            account_id=self.id,
            workspace_id=self.workspace_id,
            platform=self.platform,
            platform_account_id=self.platform_account_id,
            reason=reason,
            status=None if reason == "removed" else self.status,
            check_run_id=check_run_id,
            disconnected_at=at,
        )
