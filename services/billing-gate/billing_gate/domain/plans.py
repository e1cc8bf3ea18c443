"""The plan catalogue: which plans exist, their caps, and which plan is the next step up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from billing_gate.domain.errors import UnknownPlanError

__all__ = ["Plan", "PlanCatalogue", "normalise_plan"]


def normalise_plan(name: str) -> str:
    return name.strip().lower()


@dataclass(frozen=True)
class Plan:
    name: str
    limit: int


@dataclass(frozen=True)
class PlanCatalogue:
    """Plans ordered by cap, smallest first; `default` is the plan of a workspace nobody named."""

    plans: tuple[Plan, ...]
    default: str

    @classmethod
    def from_limits(cls, limits: Mapping[str, int], *, default: str) -> PlanCatalogue:
        plans = tuple(
            sorted((Plan(normalise_plan(n), c) for n, c in limits.items()), key=lambda p: p.limit)
        )
        catalogue = cls(plans=plans, default=normalise_plan(default))
        catalogue.get(catalogue.default)  # refuse a default that is not in the catalogue
        return catalogue

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.plans)

    def get(self, name: str) -> Plan:
        wanted = normalise_plan(name)
        for plan in self.plans:
            if plan.name == wanted:
                return plan
        raise UnknownPlanError(name, self.names)

    def effective(self, name: str | None) -> Plan:
        """The plan a stored name stands for; unknown or missing names fall back to the default.

        A stored name can only be unknown when an operator removed a plan from the settings;
        answering with the default keeps the gate working instead of failing every request.
        """
        if name is not None:
            try:
                return self.get(name)
            except UnknownPlanError:
                pass
        return self.get(self.default)

    def upgrade_after(self, plan: Plan) -> Plan | None:
        """The smallest plan with a higher cap, or None at the top."""
        return next((p for p in self.plans if p.limit > plan.limit), None)

    def upgrade_hint(self, plan: Plan, occupied: int) -> str | None:
        """The smallest bigger plan that would admit one more account, given `occupied` slots
        (after a downgrade the very next plan up may still be full); None when no plan would.

        The one hint for every answer: the usage read and the 402 must never disagree.
        """
        candidate = self.upgrade_after(plan)
        while candidate is not None and candidate.limit <= occupied:
            candidate = self.upgrade_after(candidate)
        return candidate.name if candidate is not None else None
