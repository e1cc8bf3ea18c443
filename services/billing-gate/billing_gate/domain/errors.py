"""What billing-gate refuses, as exceptions the entrypoints turn into problem details.

    BillingGateError
     +-- UnknownPlanError          a plan name outside the catalogue (422; an event: DLQ)
     +-- ReservationNotFoundError  no such reservation in this workspace (404)
     +-- ReservationConflictError  the reservation is already settled the other way (409)
     +-- IdentityRequiredError     a confirm that names no platform identity for the account (422)
     +-- WorkspaceBusyError        the workspace's lock was not free within the lock timeout (503)
     +-- FuturePlanChangeError     a plan change dated past the clock-skew allowance (422; DLQ)

A denied slot is not an error: it is a `Decision` with `allowed=False`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

__all__ = [
    "BillingGateError",
    "FuturePlanChangeError",
    "IdentityRequiredError",
    "ReservationConflictError",
    "ReservationNotFoundError",
    "UnknownPlanError",
    "WorkspaceBusyError",
]


class BillingGateError(Exception):
    pass


class UnknownPlanError(BillingGateError):
    def __init__(self, plan: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown plan {plan!r}; known plans: {', '.join(known)}")
        self.plan = plan
        self.known = tuple(known)


class ReservationNotFoundError(BillingGateError):
    def __init__(self, reservation_id: uuid.UUID) -> None:
        super().__init__(f"reservation {reservation_id} not found")
        self.reservation_id = reservation_id


class ReservationConflictError(BillingGateError):
    def __init__(
        self, reservation_id: uuid.UUID, state: str, *, account_id: uuid.UUID | None = None
    ) -> None:
        detail = f"reservation {reservation_id} is already {state}"
        if account_id is not None:
            detail += f" for account {account_id}"
        super().__init__(detail)
        self.reservation_id = reservation_id
        self.state = state
        self.account_id = account_id


class IdentityRequiredError(BillingGateError):
    def __init__(self, reservation_id: uuid.UUID) -> None:
        super().__init__(
            f"reservation {reservation_id} was taken without an identity: the confirm must name "
            "platform and platform_account_id"
        )
        self.reservation_id = reservation_id


class WorkspaceBusyError(BillingGateError):
    """Nothing was changed: the caller may retry (with the same reservation id) after a moment."""

    def __init__(self, workspace_id: uuid.UUID) -> None:
        super().__init__(f"workspace {workspace_id} is busy; retry shortly")
        self.workspace_id = workspace_id


class FuturePlanChangeError(BillingGateError):
    """Accepting it would freeze the plan until that date: no earlier change could win."""

    def __init__(self, changed_at: datetime, allowance: timedelta) -> None:
        super().__init__(
            f"changed_at {changed_at.isoformat()} is in the future by more than the "
            f"{int(allowance.total_seconds())} s clock-skew allowance"
        )
        self.changed_at = changed_at
