"""Billing-gate's HTTP routes: a public usage read and the internal gate for the connector."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import SecretStr

from billing_gate.domain.accounts import Identity, IncompleteIdentityError
from billing_gate.entrypoints.problems import domain_errors, plan_limit_reached
from billing_gate.entrypoints.schemas import (
    ConfirmIn,
    DecisionOut,
    PlanIn,
    PlanOut,
    ReservationIn,
    ReservationOut,
    ReservationStateOut,
    UsageOut,
)
from billing_gate.service_layer.gate import BillingGate
from mooring.service.auth import GatewayJwtSettings, service_credential, workspace_principal
from mooring.service.fields import PlatformId, Text512
from mooring.service.problems import PROBLEM_JSON, Problem

__all__ = ["build_routers"]


Responses = dict[int | str, dict[str, Any]]


def _problem(status_code: int, description: str) -> Responses:
    return {status_code: {"description": description, "content": {PROBLEM_JSON: {}}}}


_402 = _problem(402, "Plan limit reached: plan, limit, used, reserved, upgrade_to.")
_401 = _problem(401, "Missing or wrong bearer token.")
_404 = _problem(404, "No such reservation in this workspace.")
_409 = _problem(409, "The reservation was already settled the other way.")
_422 = _problem(422, "The request is not valid.")
_503 = _problem(
    503, "The workspace's lock was not free in time; nothing changed. Retry after Retry-After."
)
_200: Responses = {
    200: {"description": "No slot needed, or a retried request.", "model": ReservationOut}
}


def _query_identity(platform: str | None, platform_account_id: str | None) -> Identity | None:
    try:
        return Identity.from_parts(platform, platform_account_id)
    except IncompleteIdentityError as exc:
        raise Problem(
            422, "validation-error", "The request is not valid", str(exc),
            errors=[{"location": "query", "message": str(exc)}],
        ) from exc  # fmt: skip


def build_routers(
    gate: BillingGate, service_tokens: Sequence[SecretStr], gateway: GatewayJwtSettings
) -> list[APIRouter]:
    internal = APIRouter(
        prefix="/internal/v1/workspaces/{workspace_id}",
        tags=["internal"],
        dependencies=[Depends(service_credential(service_tokens))],
        responses=_401,
    )
    _add_decision_routes(internal, gate)
    _add_reservation_routes(internal, gate)
    return [_public_router(gate, gateway), internal]


def _public_router(gate: BillingGate, gateway: GatewayJwtSettings) -> APIRouter:
    # Any member of the workspace may read its usage; another workspace's token gets 404.
    public = APIRouter(
        tags=["usage"],
        dependencies=[Depends(workspace_principal(gateway))],
        responses={**_401, **_problem(404, "No such workspace for this token.")},
    )

    @public.get("/v1/workspaces/{workspace_id}/usage")
    async def usage(workspace_id: uuid.UUID) -> UsageOut:
        return UsageOut.of(workspace_id, await gate.usage(workspace_id))

    return public


def _add_decision_routes(internal: APIRouter, gate: BillingGate) -> None:
    @internal.get("/usage")
    async def internal_usage(workspace_id: uuid.UUID) -> UsageOut:
        return UsageOut.of(workspace_id, await gate.usage(workspace_id))

    @internal.get("/decision", responses=_402 | _422)
    async def decision(
        workspace_id: uuid.UUID,
        platform: Annotated[PlatformId | None, Query()] = None,
        platform_account_id: Annotated[Text512 | None, Query()] = None,
    ) -> DecisionOut:
        """The early check when a connect starts: may one more account be added? Holds nothing."""
        answer = await gate.decision(workspace_id, _query_identity(platform, platform_account_id))
        if not answer.allowed:
            raise plan_limit_reached(answer)
        return DecisionOut.of(answer)

    @internal.put("/plan", responses=_422)
    async def change_plan(workspace_id: uuid.UUID, body: PlanIn) -> PlanOut:
        with domain_errors():
            change = await gate.change_plan(workspace_id, body.plan, body.changed_at)
        return PlanOut(applied=change.applied, **UsageOut.of(workspace_id, change.usage).__dict__)


def _add_reservation_routes(internal: APIRouter, gate: BillingGate) -> None:
    @internal.post(
        "/reservations",
        status_code=status.HTTP_201_CREATED,
        responses=_200 | _402 | _404 | _409 | _422 | _503,
    )
    async def reserve(
        workspace_id: uuid.UUID, body: ReservationIn, response: Response
    ) -> ReservationOut:
        """Atomically hold one slot for a connect in progress (201), or answer 402."""
        ttl = timedelta(seconds=body.ttl_s) if body.ttl_s is not None else None
        with domain_errors():
            outcome = await gate.reserve(
                workspace_id,
                body.identity(),
                reservation_id=body.reservation_id,
                ttl=ttl,
            )
        if not outcome.decision.allowed:
            raise plan_limit_reached(outcome.decision)
        if not outcome.created:
            response.status_code = status.HTTP_200_OK
        return ReservationOut.granted(outcome.decision, outcome.reservation)

    @internal.get("/reservations/{reservation_id}", responses=_404)
    async def reservation(
        workspace_id: uuid.UUID, reservation_id: uuid.UUID
    ) -> ReservationStateOut:
        with domain_errors():
            found = await gate.reservation(workspace_id, reservation_id)
        return ReservationStateOut.of(found)

    @internal.post("/reservations/{reservation_id}/confirm", responses=_404 | _409 | _422 | _503)
    async def confirm(
        workspace_id: uuid.UUID, reservation_id: uuid.UUID, body: ConfirmIn
    ) -> ReservationStateOut:
        """The account was created: count it and close the reservation (idempotent).

        409 when the reservation is released, or confirmed for another account (this account
        is still counted: it exists)."""
        with domain_errors():
            confirmed = await gate.confirm(
                workspace_id,
                reservation_id,
                account_id=body.account_id,
                identity=body.identity(),
            )
        return ReservationStateOut.of(confirmed)

    @internal.delete(
        "/reservations/{reservation_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        responses=_404 | _409 | _503,
    )
    async def release(workspace_id: uuid.UUID, reservation_id: uuid.UUID) -> None:
        """The connect was abandoned: give the slot back (idempotent)."""
        with domain_errors():
            await gate.release(workspace_id, reservation_id)
