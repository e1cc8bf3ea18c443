"""Billing-gate's subscribers: decode nothing, decide nothing, call the use case.

Ack policy, retries and the DLQ come from `ServiceRuntime.subscribe` (NACK_ON_ERROR, offset
committed after the effect). Ordering key: the account id (account events) and the workspace id
(plan changes); neither is relied on, because the effects are idempotent and order-free: the
inbox drops exact duplicates, usage keeps the newest connect and removal time per account, and
the newest `changed_at` wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from billing_gate.domain.accounts import Identity
from billing_gate.service_layer.gate import BillingGate
from billing_gate.service_layer.projection import UsageProjection
from mooring.events import AccountConnected, AccountDisconnected, Envelope, WorkspacePlanChanged

__all__ = ["KafkaHandlers"]


@dataclass(frozen=True)
class KafkaHandlers:
    gate: BillingGate
    projection: UsageProjection

    async def on_account_connected(self, envelope: Envelope[AccountConnected]) -> None:
        event = envelope.payload
        await self.projection.account_connected(
            envelope.id,
            workspace_id=event.workspace_id,
            account_id=event.account_id,
            identity=Identity(event.platform, event.platform_account_id),
            connected_at=event.connected_at,
        )

    async def on_account_disconnected(self, envelope: Envelope[AccountDisconnected]) -> None:
        event = envelope.payload
        await self.projection.account_disconnected(
            envelope.id,
            workspace_id=event.workspace_id,
            account_id=event.account_id,
            identity=Identity(event.platform, event.platform_account_id),
            reason=event.reason,
            disconnected_at=event.disconnected_at,
        )

    async def on_plan_changed(self, envelope: Envelope[WorkspacePlanChanged]) -> None:
        # An unknown plan raises: retried, then dead-lettered for an operator to replay once
        # the catalogue knows it. Naturally idempotent, so no inbox row is needed.
        event = envelope.payload
        await self.gate.change_plan(event.workspace_id, event.plan, event.changed_at)
