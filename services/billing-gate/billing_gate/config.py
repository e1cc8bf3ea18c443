"""Settings of the billing-gate service: env prefix BILLING_GATE_, infrastructure from DATABASE_URL etc."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from billing_gate.domain.decisions import DeploymentMode
from mooring.service.settings import ServiceSettings

__all__ = ["DEFAULT_PLANS", "DeploymentMode", "Settings"]

DEFAULT_PLANS: dict[str, int] = {"starter": 5, "plus": 10, "pro": 30, "max": 100}


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_GATE_", extra="ignore", frozen=True)

    http_port: int = 8105

    deployment_mode: DeploymentMode = Field(
        default="cloud", description="`self_hosted` never caps and never denies."
    )
    plans: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_PLANS),
        description='Connected-account cap per plan, JSON: {"starter": 5, "plus": 10, ...}.',
    )
    default_plan: str = Field(
        default="starter", description="The plan of a workspace no plan change has named yet."
    )
    reservation_ttl_s: int = Field(
        default=900, ge=1, description="How long a slot is held: the OAuth state's life."
    )
    lock_timeout_ms: int = Field(
        default=300,
        ge=1,
        description="How long a reserve/confirm/release waits for the workspace's lock before "
        "answering 503: keep it below the callers' budget (the client's 0.5 s), or a caller "
        "that gave up could still be granted a slot.",
    )
    plan_change_skew_s: int = Field(
        default=300,
        ge=0,
        le=3600,
        description="How far ahead of this clock a plan change's changed_at may be (clock skew).",
    )
    sweep_interval_s: float = Field(default=60.0, gt=0)
    finished_reservation_retention_s: int = Field(
        default=7 * 24 * 3600, ge=0, description="Confirmed/released reservations kept this long."
    )

    @field_validator("plans")
    @classmethod
    def _normalise_plans(cls, value: dict[str, int]) -> dict[str, int]:
        if not value:
            raise ValueError("at least one plan is needed")
        plans = {name.strip().lower(): limit for name, limit in value.items()}
        if any(limit < 0 for limit in plans.values()):
            raise ValueError("plan limits must be >= 0")
        return plans

    @model_validator(mode="after")
    def _default_plan_is_known(self) -> Settings:
        if self.default_plan.strip().lower() not in self.plans:
            raise ValueError(
                f"default_plan {self.default_plan!r} is not one of {sorted(self.plans)}"
            )
        return self
