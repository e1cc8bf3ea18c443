"""Settings of the connector service: env prefix CONNECTOR_, infrastructure from DATABASE_URL etc."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from mooring.service.settings import ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONNECTOR_", extra="ignore", frozen=True)

    http_port: int = 8101
