"""Settings of the health-checker service: env prefix HEALTH_CHECKER_, infrastructure from
DATABASE_URL etc., platform hosts and clients from MOORING_PLATFORM_* (`PlatformSettings`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from mooring.platforms import PlatformSettings
from mooring.platforms.descriptions import DESCRIPTIONS
from mooring.service.settings import ServiceSettings

__all__ = ["DEFAULT_LIMITS", "PLATFORMS", "PlatformLimit", "Settings"]

PLATFORMS: tuple[str, ...] = tuple(d.identifier for d in DESCRIPTIONS)


class PlatformLimit(BaseModel):
    """How hard the checks may press one platform, across every replica together."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    concurrency: StrictInt = Field(default=10, ge=1, le=1000, description="Calls in flight.")
    rate_per_s: float = Field(default=10.0, gt=0, le=100_000, description="Calls per second.")
    burst: StrictInt = Field(
        default=1,
        ge=1,
        le=10_000,
        description="Calls that may go at once above the steady rate (1: evenly spaced).",
    )
    daily_quota: StrictInt | None = Field(
        default=None,
        ge=1,
        description="Calls per UTC day the checks may spend (YouTube's quota, X's bill); the rest "
        "of the run waits for the next day. None: no daily cap.",
    )


# X bills every call and YouTube counts each one against a project-wide daily quota (10,000
# units, shared with publishing): the checks get a modest share of each by default.
DEFAULT_LIMITS: dict[str, PlatformLimit] = {p: PlatformLimit() for p in PLATFORMS} | {
    "x": PlatformLimit(concurrency=2, rate_per_s=1.0, daily_quota=10_000),
    "youtube": PlatformLimit(concurrency=5, rate_per_s=5.0, daily_quota=5_000),
}


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HEALTH_CHECKER_", extra="ignore", frozen=True)

    http_port: int = 8103
    platforms: PlatformSettings = Field(default_factory=PlatformSettings)

    # Plain `int` here, not `StrictInt` (kept for the JSON limits above): every value read from
    # the environment is a string, and a strict field refuses "3600", so the service would not
    # start with any of these set.

    # -- social:check-connections ------------------------------------------------------------
    check_every_s: int = Field(
        default=86_400, ge=10, description="Tick of social:check-connections (daily)."
    )
    check_offset_s: int = Field(
        default=3 * 3600, ge=0, description="Ticks fall at the epoch plus this (03:00 UTC)."
    )
    check_window_s: int = Field(
        default=20 * 3600,
        ge=10,
        description="How long one tick works a run; what is left carries on at the next tick.",
    )
    check_batch_size: int = Field(
        default=200, ge=1, le=5000, description="Accounts per claimed batch."
    )
    check_parallel_platforms: int = Field(
        default=12, ge=1, le=12, description="Platforms one replica works at once."
    )
    check_turn_s: float = Field(
        default=60.0,
        gt=0,
        description="How long a replica keeps a platform's turn before letting another replica "
        "take it (a platform is worked by one replica at a time).",
    )
    check_poll_s: float = Field(
        default=5.0, gt=0, description="How often an idle replica looks for an open check run."
    )
    platform_limits: Annotated[dict[str, PlatformLimit], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_LIMITS),
        description='Per platform, JSON: {"x": {"concurrency": 2, "rate_per_s": 1, '
        '"daily_quota": 10000}, ...}; platforms not named keep their defaults.',
    )

    # -- social:recover-stuck-posts ----------------------------------------------------------
    stuck_every_s: int = Field(
        default=1800, ge=10, description="Tick of social:recover-stuck-posts (30 min)."
    )
    stuck_threshold_s: int = Field(
        default=3600, ge=1, description="A delivery publishing longer than this is stuck."
    )
    stuck_max_attempts: int = Field(
        default=3, ge=1, le=100, description="Attempts after which a stuck delivery fails."
    )
    delivery_retention_s: int = Field(
        default=14 * 86_400,
        ge=3600,
        description="Finished or decided deliveries are forgotten this long after their last "
        "event; events older than this are ignored.",
    )

    @field_validator("platform_limits", mode="before")
    @classmethod
    def _merge_limits(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        if not isinstance(value, dict):
            return value
        unknown = sorted(set(value) - set(PLATFORMS))
        if unknown:
            raise ValueError(f"unknown platforms {unknown}; known: {list(PLATFORMS)}")
        return {**DEFAULT_LIMITS, **value}

    def limit_for(self, platform: str) -> PlatformLimit:
        return self.platform_limits.get(platform, PlatformLimit())
