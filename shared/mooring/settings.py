"""Typed settings pieces every service nests in its own `Settings`.

Infrastructure settings read unprefixed, well-known variables (`DATABASE_URL`,
`KAFKA_BOOTSTRAP_SERVERS`, `MOORING_VAULT_*`) so one environment file serves every service; each
service's own knobs carry its prefix (`TOKEN_KEEPER_HTTP_PORT`). Nothing is built at import time.
"""

from __future__ import annotations

import base64
import binascii

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ConsumerSettings", "DatabaseSettings", "KafkaSettings", "VaultSettings"]


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore", frozen=True)

    bootstrap_servers: str = "127.0.0.1:19092"
    topic_prefix: str = Field(
        default="", description="Prepended to every topic: several environments on one cluster."
    )
    topic_partitions: int = Field(default=3, ge=1)
    request_timeout_ms: int = Field(default=10_000, ge=100)


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DATABASE_", extra="ignore", frozen=True)

    url: str = "postgresql+psycopg://postgres@127.0.0.1:55432/mooring"
    pool_size: int = Field(default=10, ge=1)
    statement_timeout_ms: int = Field(default=15_000, ge=100)

    @field_validator("url")
    @classmethod
    def _psycopg_driver(cls, value: str) -> str:
        for plain in ("postgresql://", "postgres://"):
            if value.startswith(plain):
                return "postgresql+psycopg://" + value.removeprefix(plain)
        return value

    @property
    def libpq_url(self) -> str:
        """The same URL for psycopg used directly (LISTEN/NOTIFY, psql)."""
        return self.url.replace("postgresql+psycopg://", "postgresql://", 1)


class VaultSettings(BaseSettings):
    """The token vault's keyring: `MOORING_VAULT_KEYS="k2:<base64 32 bytes>,k1:<...>"`.

    Every listed key decrypts; `MOORING_VAULT_CURRENT_KEY_ID` (default: the first listed) encrypts.
    """

    model_config = SettingsConfigDict(env_prefix="MOORING_VAULT_", extra="ignore", frozen=True)

    keys: SecretStr = SecretStr("")
    current_key_id: str = ""

    def keyring(self) -> dict[str, bytes]:
        ring: dict[str, bytes] = {}
        for item in filter(None, (p.strip() for p in self.keys.get_secret_value().split(","))):
            key_id, sep, encoded = item.partition(":")
            if not sep or not key_id:
                raise ValueError(
                    "MOORING_VAULT_KEYS entries must look like '<key id>:<base64 key>'"
                )
            try:
                key = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise ValueError(f"vault key {key_id!r} is not valid base64") from None
            if len(key) != 32:  # noqa: PLR2004 - AES-256
                raise ValueError(f"vault key {key_id!r} must be 32 bytes, got {len(key)}")
            ring[key_id] = key
        if not ring:
            raise ValueError("MOORING_VAULT_KEYS is empty: the token vault needs at least one key")
        return ring

    def current(self) -> str:
        ring = self.keyring()
        current = self.current_key_id or next(iter(ring))
        if current not in ring:
            raise ValueError(f"MOORING_VAULT_CURRENT_KEY_ID {current!r} is not in the keyring")
        return current


class ConsumerSettings(BaseSettings):
    """Bounded in-process retries before a message goes to `<topic>.dlq`."""

    model_config = SettingsConfigDict(env_prefix="MOORING_CONSUMER_", extra="ignore", frozen=True)

    max_attempts: int = Field(default=3, ge=1)
    backoff_ms: int = Field(default=200, ge=0)
    infrastructure_backoff_ms: int = Field(default=1000, ge=0)
    commit_interval_ms: int = Field(
        default=200,
        ge=1,
        description="How often processed offsets of per-record subscribers are committed.",
    )
    retry_later_initial_ms: int = Field(
        default=1000,
        ge=1,
        description="First delay of a record whose handler said a dependency is down.",
    )
    retry_later_max_ms: int = Field(
        default=300_000, ge=1, description="Longest delay between two tries of such a record."
    )
