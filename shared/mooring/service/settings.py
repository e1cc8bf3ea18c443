"""The settings every service has; each service subclasses with its own env prefix."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mooring.service.auth import GatewayJwtSettings
from mooring.settings import ConsumerSettings, DatabaseSettings, KafkaSettings

__all__ = ["ServiceSettings"]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "INFO"
    migrate_on_start: bool = True
    relay_enabled: bool = Field(
        default=True, description="Run an outbox relay here (one is active at a time anyway)."
    )
    relay_batch_size: int = Field(default=1000, ge=1)
    shutdown_timeout_s: float = 5.0
    consumer_group: str = Field(
        default="",
        description="Kafka consumer group; default: the topic prefix plus the service name, so "
        "environments sharing a cluster never share a group.",
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)
    gateway: GatewayJwtSettings = Field(default_factory=GatewayJwtSettings)
