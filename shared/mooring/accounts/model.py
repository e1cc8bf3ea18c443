"""The account aggregate: a registry row, its sealed credentials, and its connection status."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

__all__ = ["Account", "AccountStatus", "Credentials"]

AccountStatus = Literal["connected", "token_expired", "disconnected"]


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
    auth_failures: int = 0
    last_checked_at: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
