"""The billing-gate composition root: the only place its collaborators are chosen and wired."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import FastAPI

from billing_gate.config import Settings
from billing_gate.domain.plans import PlanCatalogue
from billing_gate.entrypoints.http import build_routers
from billing_gate.entrypoints.kafka import KafkaHandlers
from billing_gate.service_layer.gate import BillingGate
from billing_gate.service_layer.sweeper import ReservationSweeper
from billing_gate.service_layer.unit_of_work import BillingUnitOfWork
from mooring.events import AccountConnected, AccountDisconnected, WorkspacePlanChanged
from mooring.service.http import build_http_app
from mooring.service.runtime import ServiceRuntime

__all__ = ["SERVICE", "create_app"]

SERVICE = "billing-gate"
logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(SERVICE, settings, unit_of_work=BillingUnitOfWork)
    catalogue = PlanCatalogue.from_limits(settings.plans, default=settings.default_plan)
    gate = BillingGate(
        uow=runtime.unit_of_work,
        catalogue=catalogue,
        mode=settings.deployment_mode,
        reservation_ttl=timedelta(seconds=settings.reservation_ttl_s),
        lock_timeout_ms=settings.lock_timeout_ms,
        plan_change_skew=timedelta(seconds=settings.plan_change_skew_s),
    )
    sweeper = ReservationSweeper(
        uow=runtime.unit_of_work,
        interval_s=settings.sweep_interval_s,
        retention=timedelta(seconds=settings.finished_reservation_retention_s),
    )

    handlers = KafkaHandlers(
        catalogue=catalogue, plan_change_skew=timedelta(seconds=settings.plan_change_skew_s)
    )
    runtime.subscribe(AccountConnected, handlers.on_account_connected)
    runtime.subscribe(AccountDisconnected, handlers.on_account_disconnected)
    runtime.subscribe(WorkspacePlanChanged, handlers.on_plan_changed)
    runtime.background("reservation-sweeper", sweeper.run)

    if not settings.service_tokens:
        logger.warning("BILLING_GATE_SERVICE_TOKENS is empty: every internal route answers 401")
    app = build_http_app(
        runtime,
        title="Mooring billing-gate",
        routers=build_routers(gate, settings.service_tokens, settings.gateway),
    )
    app.state.gate = gate
    return app
