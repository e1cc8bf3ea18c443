"""A workspace's usage as readers see it: plan, cap, accounts counted, slots held."""

from __future__ import annotations

from dataclasses import dataclass

from billing_gate.domain.decisions import DeploymentMode
from billing_gate.domain.plans import Plan, PlanCatalogue

__all__ = ["Usage", "usage_of"]


@dataclass(frozen=True)
class Usage:
    plan: str
    limit: int | None
    used: int
    reserved: int
    upgrade_to: str | None


def usage_of(
    catalogue: PlanCatalogue, mode: DeploymentMode, *, plan: Plan, used: int, reserved: int
) -> Usage:
    if mode == "self_hosted":
        return Usage(plan=plan.name, limit=None, used=used, reserved=reserved, upgrade_to=None)
    return Usage(
        plan=plan.name,
        limit=plan.limit,
        used=used,
        reserved=reserved,
        upgrade_to=catalogue.upgrade_hint(plan, used + reserved),
    )
