"""Settings of the token-keeper service: env prefix TOKEN_KEEPER_, infrastructure from DATABASE_URL etc.

Platform hosts and client credentials are `MOORING_PLATFORM_*` (`PlatformSettings`), read once
with the rest.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from mooring.platforms import PlatformSettings
from mooring.service.settings import ServiceSettings
from token_keeper.domain.failures import FailureRules
from token_keeper.domain.windows import RefreshRules

__all__ = ["Settings"]

_MAX_REMINDER_DAYS = 59  # tokens that cannot refresh live 60 days at most
_POLL_INTERVAL_S = 300  # aiokafka's max_poll_interval_ms, which the kernel keeps


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TOKEN_KEEPER_", extra="ignore", frozen=True)

    http_port: int = 8102

    sweep_every_s: int = Field(
        default=3600, ge=60, le=86400, description="`social:refresh-expiring-tokens` tick."
    )
    retry_every_s: int = Field(
        default=300,
        ge=10,
        le=86400,
        description="`social:retry-failed-refreshes` tick: accounts whose cooldown after a "
        "failed refresh has passed are published again.",
    )
    refresh_lead_s: int = Field(
        default=1800,
        ge=60,
        le=7 * 86400,
        description="Refresh-token accounts are refreshed when they expire within this lead "
        "plus the sweep interval (so none enters its last lead minutes unrefreshed).",
    )
    extend_window_days: int = Field(
        default=10,
        ge=1,
        le=59,
        description="Extend-in-place tokens (Instagram, Threads) are extended when they expire "
        "within this many days (and are old enough for the platform to allow it).",
    )
    reminder_days: tuple[int, ...] = Field(
        default=(14, 3),
        description="Reconnect reminders for accounts that cannot refresh, in days before expiry.",
    )
    token_margin_s: int = Field(
        default=300,
        ge=0,
        le=86400,
        description="The on-demand route hands out a token valid for at least this long, "
        "refreshing it first when it would not be.",
    )
    cooldown_s: int = Field(
        default=300,
        ge=1,
        le=86400,
        description="After a transient failure an account waits at least this long (doubling "
        "per attempt up to `max_backoff_s`, or the platform's Retry-After if longer).",
    )
    max_backoff_s: int = Field(default=3600, ge=1, le=86400)
    policy_retry_s: int = Field(
        default=6 * 3600,
        ge=60,
        le=7 * 86400,
        description="A refusal by rule (missing scope, platform cap) is tried again after this, "
        "unless the platform said when.",
    )
    give_up_after_days: int = Field(
        default=3,
        ge=1,
        le=60,
        description="Days with failing refreshes after which the account is token_expired "
        "(account.disconnected, reason refresh_failed).",
    )
    sweep_page_size: int = Field(default=500, ge=1, le=10_000)
    worker_concurrency: int = Field(
        default=32,
        ge=1,
        le=512,
        description="Refreshes one process runs at once (each holds a database connection and "
        "its account's row lock for the platform call): the database pool is raised to fit.",
    )
    worker_batch_size: int = Field(
        default=128,
        ge=1,
        le=5000,
        description="token.expiring records fetched per batch. A batch must finish within the "
        "consumer's poll interval (5 min) even when the platform hangs every call: "
        "batch / concurrency x (platform timeout + retry budget) is checked at start.",
    )

    platforms: PlatformSettings = Field(default_factory=PlatformSettings)

    @model_validator(mode="after")
    def _batch_fits_the_poll_interval(self) -> Settings:
        waves = -(-self.worker_batch_size // self.worker_concurrency)
        http = self.platforms.http
        worst = waves * (http.timeout_seconds + http.retry_budget_seconds)
        if worst >= _POLL_INTERVAL_S:
            raise ValueError(
                f"a batch of {self.worker_batch_size} at concurrency {self.worker_concurrency} "
                f"could take {worst:.0f} s against a hanging platform, past the consumer's "
                f"{_POLL_INTERVAL_S} s poll interval (the group would drop it): lower "
                "worker_batch_size or raise worker_concurrency"
            )
        return self

    @field_validator("reminder_days")
    @classmethod
    def _positive_days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= d <= _MAX_REMINDER_DAYS for d in value):
            raise ValueError(f"reminder days must be between 1 and {_MAX_REMINDER_DAYS}")
        return tuple(sorted(set(value), reverse=True))

    def refresh_rules(self) -> RefreshRules:
        return RefreshRules(
            lead=timedelta(seconds=self.refresh_lead_s),
            sweep_interval=timedelta(seconds=self.sweep_every_s),
            extend_window=timedelta(days=self.extend_window_days),
            reminder_days=self.reminder_days,
        )

    def failure_rules(self) -> FailureRules:
        return FailureRules(
            cooldown=timedelta(seconds=self.cooldown_s),
            max_backoff=timedelta(seconds=self.max_backoff_s),
            give_up_after_days=self.give_up_after_days,
            policy_retry=timedelta(seconds=self.policy_retry_s),
        )
