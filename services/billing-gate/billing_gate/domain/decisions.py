"""May this workspace add one more connected account? The whole rule, as a pure function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from billing_gate.domain.plans import Plan, PlanCatalogue

__all__ = ["Decision", "DeploymentMode", "Reason", "decide"]

DeploymentMode = Literal["cloud", "self_hosted"]
Reason = Literal["within_limit", "known_identity", "unlimited", "limit_reached"]


@dataclass(frozen=True)
class Decision:
    """The answer, with everything a 402 needs: plan, cap, usage and the plan to upgrade to.

    `limit` is None when nothing caps the workspace (self-hosted). `needs_slot` says whether the
    caller must hold a reservation to add the account (False for reconnects and uncapped mode).
    """

    allowed: bool
    reason: Reason
    plan: str
    limit: int | None
    used: int
    reserved: int
    upgrade_to: str | None

    @property
    def needs_slot(self) -> bool:
        return self.reason == "within_limit"


def decide(
    catalogue: PlanCatalogue,
    mode: DeploymentMode,
    *,
    plan: Plan,
    used: int,
    reserved: int,
    known_identity: bool,
) -> Decision:
    """Reconnects are never blocked; a downgrade below usage refuses new accounts, removes none."""
    if mode == "self_hosted":
        return _allowed("unlimited", plan, None, used, reserved)
    if known_identity:
        return _allowed("known_identity", plan, plan.limit, used, reserved)
    if used + reserved < plan.limit:
        return _allowed("within_limit", plan, plan.limit, used, reserved)
    return Decision(
        allowed=False,
        reason="limit_reached",
        plan=plan.name,
        limit=plan.limit,
        used=used,
        reserved=reserved,
        upgrade_to=catalogue.upgrade_hint(plan, used + reserved),
    )


def _allowed(reason: Reason, plan: Plan, limit: int | None, used: int, reserved: int) -> Decision:
    return Decision(
        allowed=True,
        reason=reason,
        plan=plan.name,
        limit=limit,
        used=used,
        reserved=reserved,
        upgrade_to=None,
    )
