"""HTTP request and response bodies (the OpenAPI contract of billing-gate)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from billing_gate.domain.accounts import Identity
from billing_gate.domain.decisions import Decision, Reason
from billing_gate.domain.reservations import Reservation, ReservationState
from billing_gate.domain.usage import Usage
from mooring.service.fields import PlatformId, Text64, Text512, Timestamp

# A day: longer than any connect flow; the service caps it at its own TTL anyway.
MAX_TTL_S = 24 * 3600

__all__ = [
    "ConfirmIn",
    "DecisionOut",
    "PlanIn",
    "PlanOut",
    "ReservationIn",
    "ReservationOut",
    "UsageOut",
]


class _IdentityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platform: PlatformId | None = None
    platform_account_id: Text512 | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> _IdentityIn:
        self.identity()  # the rule lives in the domain; its ValueError becomes a 422
        return self

    def identity(self) -> Identity | None:
        return Identity.from_parts(self.platform, self.platform_account_id)


class UsageOut(BaseModel):
    workspace_id: uuid.UUID
    plan: str
    limit: int | None = Field(description="None when nothing caps the workspace (self-hosted).")
    used: int
    reserved: int = Field(description="Slots held by connects in progress.")
    upgrade_to: str | None

    @classmethod
    def of(cls, workspace_id: uuid.UUID, usage: Usage) -> UsageOut:
        return cls(workspace_id=workspace_id, **usage.__dict__)


class DecisionOut(BaseModel):
    allowed: bool
    reason: Reason
    plan: str
    limit: int | None
    used: int
    reserved: int
    upgrade_to: str | None

    @classmethod
    def of(cls, decision: Decision) -> DecisionOut:
        return cls(**decision.__dict__)


class ReservationIn(_IdentityIn):
    reservation_id: uuid.UUID | None = Field(
        default=None, description="Chosen by the caller to make a retried request idempotent."
    )
    ttl_s: StrictInt | None = Field(
        default=None,
        ge=1,
        le=MAX_TTL_S,
        description="Hold the slot this long, in whole seconds (capped by the service's TTL).",
    )


class ReservationOut(DecisionOut):
    """201: a slot was granted; 200: no slot is needed (reconnect, uncapped) or the request was
    a retry of one already granted."""

    reservation_id: uuid.UUID | None
    status: ReservationState | Literal["not_needed"]
    expires_at: datetime | None

    @classmethod
    def granted(cls, decision: Decision, reservation: Reservation | None) -> ReservationOut:
        if reservation is None:
            return cls(
                **decision.__dict__, reservation_id=None, status="not_needed", expires_at=None
            )
        return cls(
            **decision.__dict__,
            reservation_id=reservation.id,
            status="pending",
            expires_at=reservation.expires_at,
        )


class ReservationStateOut(BaseModel):
    reservation_id: uuid.UUID
    workspace_id: uuid.UUID
    status: ReservationState
    platform: str | None
    platform_account_id: str | None
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None
    account_id: uuid.UUID | None
    released_at: datetime | None

    @classmethod
    def of(cls, reservation: Reservation) -> ReservationStateOut:
        return cls(
            reservation_id=reservation.id,
            workspace_id=reservation.workspace_id,
            status=reservation.state(),
            platform=reservation.platform,
            platform_account_id=reservation.platform_account_id,
            created_at=reservation.created_at,
            expires_at=reservation.expires_at,
            confirmed_at=reservation.confirmed_at,
            account_id=reservation.account_id,
            released_at=reservation.released_at,
        )


class ConfirmIn(_IdentityIn):
    account_id: uuid.UUID = Field(description="The account the connect created.")


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: Text64
    changed_at: Timestamp | None = Field(
        default=None, description="When the platform changed it; the newest change wins."
    )


class PlanOut(UsageOut):
    applied: bool = Field(description="False when a newer plan change was already recorded.")
