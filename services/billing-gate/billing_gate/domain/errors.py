"""What billing-gate refuses, as exceptions the entrypoints turn into problem details.

    BillingGateError
     +-- UnknownPlanError          a plan name outside the catalogue (422; an event: DLQ)
     +-- ReservationNotFoundError  no such reservation in this workspace (404)
     +-- ReservationConflictError  the reservation is already settled the other way (409)
     +-- IdentityRequiredError     a confirm that names no platform identity for the account (422)

A denied slot is not an error: it is a `Decision` with `allowed=False`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

__all__ = [
    "BillingGateError",
    "IdentityRequiredError",
    "ReservationConflictError",
    "ReservationNotFoundError",
    "UnknownPlanError",
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
    def __init__(self, reservation_id: uuid.UUID, state: str) -> None:
        super().__init__(f"reservation {reservation_id} is already {state}")
        self.reservation_id = reservation_id
        self.state = state


class IdentityRequiredError(BillingGateError):
    def __init__(self, reservation_id: uuid.UUID) -> None:
        super().__init__(
            f"reservation {reservation_id} was taken without an identity: the confirm must name "
            "platform and platform_account_id"
        )
        self.reservation_id = reservation_id
