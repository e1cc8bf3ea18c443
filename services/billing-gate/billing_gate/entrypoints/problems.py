"""Billing-gate's refusals as RFC 9457 problem details with stable types."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from billing_gate.domain.decisions import Decision
from billing_gate.domain.errors import (
    FuturePlanChangeError,
    IdentityRequiredError,
    ReservationConflictError,
    ReservationNotFoundError,
    UnknownPlanError,
    WorkspaceBusyError,
)
from mooring.service.problems import Problem

__all__ = ["BUSY_RETRY_AFTER_S", "PLAN_LIMIT_REACHED", "domain_errors", "plan_limit_reached"]

PLAN_LIMIT_REACHED = "plan-limit-reached"
BUSY_RETRY_AFTER_S = 1


def plan_limit_reached(decision: Decision) -> Problem:
    return Problem(
        402,
        PLAN_LIMIT_REACHED,
        "Plan limit reached",
        f"The {decision.plan} plan allows {decision.limit} connected accounts; "
        f"{decision.used} are connected and {decision.reserved} connects are in progress.",
        plan=decision.plan,
        limit=decision.limit,
        used=decision.used,
        reserved=decision.reserved,
        upgrade_to=decision.upgrade_to,
    )


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    """Re-raise the domain's refusals as problems the kernel's handler renders."""
    try:
        yield
    except UnknownPlanError as exc:
        raise Problem(
            422, "unknown-plan", "Unknown plan", str(exc), plan=exc.plan, known_plans=exc.known,
            errors=[{"location": "body.plan", "message": str(exc)}],
        ) from exc  # fmt: skip
    except ReservationNotFoundError as exc:
        raise Problem(404, "reservation-not-found", "Reservation not found", str(exc)) from exc
    except ReservationConflictError as exc:
        extra: dict[str, Any] = (
            {"account_id": str(exc.account_id)} if exc.account_id is not None else {}
        )
        raise Problem(
            409,
            "reservation-conflict",
            "Reservation already settled",
            str(exc),
            state=exc.state,
            **extra,
        ) from exc
    except FuturePlanChangeError as exc:
        raise Problem(
            422, "changed-at-in-future", "Plan change dated in the future", str(exc),
            errors=[{"location": "body.changed_at", "message": str(exc)}],
        ) from exc  # fmt: skip
    except IdentityRequiredError as exc:
        raise Problem(
            422, "identity-required", "Account identity required", str(exc),
            errors=[{"location": "body", "message": str(exc)}],
        ) from exc  # fmt: skip
    except WorkspaceBusyError as exc:
        raise Problem(
            503,
            "workspace-busy",
            "Workspace busy",
            f"{exc}: nothing was changed",
            headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
        ) from exc
