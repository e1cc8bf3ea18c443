"""The settings every service has; each service subclasses with its own env prefix."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mooring.service.auth import GatewayJwtSettings
from mooring.service.tracing import TracingSettings
from mooring.settings import ConsumerSettings, DatabaseSettings, KafkaSettings, VaultSettings

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
    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=16 * 1024 * 1024,
        description="Request bodies over this are refused with 413 before they are read whole.",
    )
    scheduler_enabled: bool = Field(
        default=True, description="Run scheduled jobs here (each tick runs once anyway)."
    )
    gauge_interval_s: float = Field(
        default=15.0, gt=0, description="How often lag, DLQ, backlog and account gauges are read."
    )
    scheduler_poll_s: float = Field(default=5.0, gt=0, description="How often ticks are checked.")
    # Either a JSON list or comma-separated; every listed token is accepted (rotation).
    service_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Bearer tokens admitted on /internal routes."
    )
    consumer_group: str = Field(
        default="",
        description="Kafka consumer group; default: the topic prefix plus the service name, so "
        "environments sharing a cluster never share a group.",
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)
    gateway: GatewayJwtSettings = Field(default_factory=GatewayJwtSettings)
    vault: VaultSettings = Field(default_factory=VaultSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)

    @field_validator("service_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [t.strip() for t in text.split(",") if t.strip()]
        return value
