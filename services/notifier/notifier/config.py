"""Settings of the notifier service: env prefix NOTIFIER_, infrastructure from DATABASE_URL etc."""

from __future__ import annotations

from email.headerregistry import Address
from email.utils import parseaddr
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from mooring.service.settings import ServiceSettings
from notifier.domain.links import check_template

__all__ = ["Settings", "SmtpSecurity"]

SmtpSecurity = Literal["none", "starttls", "tls"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)

    http_port: int = 8104

    # -- SMTP ---------------------------------------------------------------------------------
    smtp_host: str = Field(default="127.0.0.1", min_length=1)
    smtp_port: int = Field(default=8025, ge=1, le=65535)
    smtp_security: SmtpSecurity = Field(
        default="none",
        description="`starttls` upgrades a plain connection (usually port 587), `tls` connects "
        "over TLS (465), `none` for a local catcher only.",
    )
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_timeout_s: float = Field(default=15.0, gt=0, le=300)
    smtp_validate_certs: bool = True
    mail_from: str = Field(
        default="Mooring <notifications@mooring.localhost>",
        description="The From header and envelope sender.",
    )

    # -- links in messages --------------------------------------------------------------------
    reconnect_url_template: str = (
        "http://127.0.0.1:3000/workspaces/{workspace_id}/accounts/{account_id}/reconnect"
    )
    accounts_url_template: str = "http://127.0.0.1:3000/workspaces/{workspace_id}/accounts"
    preferences_url_template: str = (
        "http://127.0.0.1:3000/workspaces/{workspace_id}/settings/notifications"
    )

    # -- grouping -----------------------------------------------------------------------------
    digest_settle_s: float = Field(
        default=60.0,
        ge=0,
        description="How long the daily check's failures of one workspace and run are "
        "collected before their one summary e-mail goes.",
    )
    post_failure_cooldown_s: float = Field(
        default=3600.0,
        gt=0,
        description="Post failures of one account within this time share one notification.",
    )
    post_failure_settle_s: float = Field(
        default=60.0, ge=0, description="A post-failure e-mail waits this long for more."
    )

    intake_batch_max: int = Field(
        default=500,
        ge=1,
        le=5000,
        description="Most events one intake transaction takes from a topic (a fetched batch).",
    )

    # -- the delivery worker ------------------------------------------------------------------
    delivery_senders: int = Field(default=2, ge=1, le=32, description="Parallel SMTP sessions.")
    delivery_batch: int = Field(default=50, ge=1, le=1000, description="Claimed per round.")
    delivery_poll_s: float = Field(default=1.0, gt=0)
    delivery_lease_s: float = Field(
        default=300.0, gt=0, description="A claimed row is taken back after this (a dead worker)."
    )
    delivery_retry_initial_s: float = Field(default=5.0, gt=0)
    delivery_retry_max_s: float = Field(default=600.0, gt=0)
    delivery_give_up_after_s: float = Field(default=3 * 24 * 3600.0, gt=0)
    held_sweep_s: float = Field(
        default=30.0, gt=0, description="How often held mail is checked for a newly known owner."
    )

    @field_validator("reconnect_url_template")
    @classmethod
    def _reconnect_template(cls, value: str) -> str:
        return check_template(value)

    @field_validator("accounts_url_template", "preferences_url_template")
    @classmethod
    def _workspace_template(cls, value: str) -> str:
        return check_template(value, frozenset({"workspace_id"}))

    @field_validator("mail_from")
    @classmethod
    def _one_address(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address or any(c in value for c in "\r\n"):
            raise ValueError("must be one e-mail address, optionally with a display name")
        Address(addr_spec=address)  # raises on an address the e-mail package cannot write
        return value
