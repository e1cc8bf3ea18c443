"""Settings of the connector service: env prefix CONNECTOR_, infrastructure from DATABASE_URL etc.

Platform hosts and client credentials are `MOORING_PLATFORM_*` (`PlatformSettings`), the
billing-gate client `MOORING_BILLING_*` (`BillingClientSettings`), both read once with the rest.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from connector.domain.redirects import DEVELOPMENT_REDIRECTS, RedirectPolicy
from mooring.billing import BillingClientSettings
from mooring.platforms import PlatformSettings
from mooring.service.settings import ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONNECTOR_", extra="ignore", frozen=True)

    http_port: int = 8101

    public_url: str = Field(
        default="http://127.0.0.1:8101",
        description="Where platforms send the user back: the callback is "
        "`{public_url}/v1/oauth/{platform}/callback`, registered with each platform app.",
    )
    redirect_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEVELOPMENT_REDIRECTS),
        description="Origins (optionally with a path prefix, `*` for any port) a connect may "
        "land on, comma-separated or a JSON list. The default admits any loopback URL, for "
        "development; a deployment lists its own origins.",
    )
    state_ttl_s: int = Field(
        default=900, ge=60, le=3600, description="How long a connect's state lives."
    )
    connect_rate_limit: int = Field(
        default=30, ge=1, description="Connect starts per workspace per window."
    )
    connect_rate_window_s: int = Field(default=60, ge=1, le=86400)
    reservation_ttl_s: int = Field(
        default=300,
        ge=10,
        le=900,
        description="How long a slot is held between the reservation and the account's commit; "
        "a connector that dies in between lets it expire after this.",
    )
    billing_attempts: int = Field(
        default=3, ge=1, le=10, description="Tries of an unanswered reserve or confirm."
    )
    session_retention_s: int = Field(
        default=3600,
        ge=0,
        description="Finished or expired sessions are deleted this long after "
        "their expiry (their secrets at once).",
    )
    purge_interval_s: float = Field(default=300.0, gt=0)

    billing: BillingClientSettings = Field(default_factory=BillingClientSettings)
    platforms: PlatformSettings = Field(default_factory=PlatformSettings)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("public_url must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("redirect_allowlist", mode="before")
    @classmethod
    def _split_allowlist(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("redirect_allowlist")
    @classmethod
    def _allowlist_parses(cls, value: list[str]) -> list[str]:
        RedirectPolicy.of(value)  # a bad entry fails at start-up, not at the first connect
        return value

    def redirect_policy(self) -> RedirectPolicy:
        return RedirectPolicy.of(self.redirect_allowlist)
