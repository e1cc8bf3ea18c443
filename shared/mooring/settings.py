"""Typed settings pieces every service nests in its own `Settings`.

Infrastructure settings read unprefixed, well-known variables (`DATABASE_URL`,
`KAFKA_BOOTSTRAP_SERVERS`, `MOORING_VAULT_*`) so one environment file serves every service; each
service's own knobs carry its prefix (`TOKEN_KEEPER_HTTP_PORT`). Nothing is built at import time.
"""

from __future__ import annotations

import base64
import binascii
import ssl
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ConsumerSettings", "DatabaseSettings", "KafkaSettings", "VaultSettings"]


class KafkaSettings(BaseSettings):
    """Where the cluster is and who we are to it.

    `security_protocol` SASL_SSL with SCRAM credentials is what a shared cluster should ask of
    every service (the broker then enforces topic ACLs per user); PLAINTEXT is for a broker on
    loopback. The outbox relay publishes every service's events, so it may run under an identity
    of its own (`relay_sasl_*`) allowed to write the event topics, while the service's own user
    reads its topics and writes only its dead-letter topics.
    """

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore", frozen=True)

    bootstrap_servers: str = "127.0.0.1:19092"
    topic_prefix: str = Field(
        default="", description="Prepended to every topic: several environments on one cluster."
    )
    topic_partitions: int = Field(default=3, ge=1)
    topic_replication_factor: int = Field(
        default=1, ge=1, description="Copies of each topic the services create (3 on a cluster)."
    )
    topic_min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="`min.insync.replicas` of each created topic; none: the broker's default.",
    )
    request_timeout_ms: int = Field(default=10_000, ge=100)
    create_topics: bool = Field(
        default=True,
        description="Create missing topics at start. Off where an administrator's job creates "
        "them (a service user should not hold the cluster's CREATE permission).",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    relay_sasl_username: str = Field(
        default="", description="The relay's own user; empty: the service's user."
    )
    relay_sasl_password: SecretStr = SecretStr("")
    ssl_cafile: str = Field(
        default="", description="The cluster's CA certificate (PEM); empty: the system's."
    )

    def topic_configs(self) -> dict[str, str]:
        """The per-topic configuration of the topics Mooring creates."""
        if self.topic_min_insync_replicas is None:
            return {}
        return {"min.insync.replicas": str(self.topic_min_insync_replicas)}

    @model_validator(mode="after")
    def _credentials_for_sasl(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_username and self.sasl_password.get_secret_value()
        ):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.security_protocol} needs KAFKA_SASL_USERNAME "
                "and KAFKA_SASL_PASSWORD"
            )
        return self

    def client_options(self, *, relay: bool = False) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer and admin clients."""
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = self.ssl_context()
        if self.security_protocol.startswith("SASL"):
            username, password = self._credentials(relay=relay)
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": username,
                "sasl_plain_password": password,
            }
        return options

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ssl_cafile or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _credentials(self, *, relay: bool) -> tuple[str, str]:
        if relay and self.relay_sasl_username:
            return self.relay_sasl_username, self.relay_sasl_password.get_secret_value()
        return self.sasl_username, self.sasl_password.get_secret_value()


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
    allowed_sources: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Event type -> the ce_source values accepted for it (JSON); an event from "
        "another source is dead-lettered. Types not listed accept any source. Deployments set "
        "the contract's producers (mooring.events.CONTRACT_SOURCES) plus the platform's own.",
    )
