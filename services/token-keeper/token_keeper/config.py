"""Settings of the token-keeper service: env prefix TOKEN_KEEPER_, infrastructure from DATABASE_URL etc."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from mooring.service.settings import ServiceSettings

__all__ = ["Settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TOKEN_KEEPER_", extra="ignore", frozen=True)

    http_port: int = 8102
