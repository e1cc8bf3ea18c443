"""Billing-gate's subscribers: decode nothing, decide nothing, call the service layer.

Ack policy, retries, the DLQ and the inbox come from `ServiceRuntime.subscribe`: each handler
runs in a unit of work in which its event is already marked handled, and the runtime commits.
Ordering key: the account id (account events) and the workspace id (plan changes); neither is
relied on, because the effects are order-free: usage keeps the newest connect and removal time
per account, and the newest `changed_at` wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from billing_gate.domain.accounts import Identity
from billing_gate.domain.errors import FuturePlanChangeError
from billing_gate.domain.plans import PlanCatalogue
from billing_gate.service_layer.gate import apply_plan_change
from billing_gate.service_layer.projection import count_connected, forget_removed
from billing_gate.service_layer.unit_of_work import AbstractBillingUnitOfWork
from mooring.events import AccountConnected, AccountDisconnected, Envelope, WorkspacePlanChanged
from mooring.messaging.errors import RejectEvent

__all__ = ["KafkaHandlers"]


@dataclass(frozen=True)
class KafkaHandlers:
    catalogue: PlanCatalogue
    plan_change_skew: timedelta

    async def on_account_connected(
        self, envelope: Envelope[AccountConnected], uow: AbstractBillingUnitOfWork
    ) -> None:
        event = envelope.payload
        await count_connected(
            uow,
            workspace_id=event.workspace_id,
            account_id=event.account_id,
            identity=Identity(event.platform, event.platform_account_id),
            connected_at=event.connected_at,
        )

    async def on_account_disconnected(
        self, envelope: Envelope[AccountDisconnected], uow: AbstractBillingUnitOfWork
    ) -> None:
        event = envelope.payload
        await forget_removed(
            uow,
            workspace_id=event.workspace_id,
            account_id=event.account_id,
            identity=Identity(event.platform, event.platform_account_id),
            reason=event.reason,
            disconnected_at=event.disconnected_at,
        )

    async def on_plan_changed(
        self, envelope: Envelope[WorkspacePlanChanged], uow: AbstractBillingUnitOfWork
    ) -> None:
        # An unknown plan raises: retried, then dead-lettered for an operator to replay once
        # the catalogue knows it. A change dated in the future can never be right: rejected.
        event = envelope.payload
        try:
            await apply_plan_change(
                uow,
                self.catalogue,
                event.workspace_id,
                event.plan,
                event.changed_at,
                skew=self.plan_change_skew,
            )
        except FuturePlanChangeError as exc:
            raise RejectEvent(str(exc)) from exc
