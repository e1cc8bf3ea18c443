"""Settings of the billing-gate service: env prefix BILLING_GATE_, infrastructure from DATABASE_URL etc."""

from __future__ import annotations

from mooring.service.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict

__all__ = ["Settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_GATE_", extra="ignore", frozen=True)

    http_port: int = 8105
