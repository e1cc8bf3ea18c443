"""A held slot and its life: pending until confirmed, released, or past its expiry."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from billing_gate.domain.errors import ReservationConflictError

__all__ = ["Reservation", "ReservationState", "check_confirmable", "check_releasable"]

ReservationState = Literal["pending", "confirmed", "released", "expired"]
EXPIRED = "expired"
RELEASED = "released"


@dataclass(frozen=True)
class Reservation:
    id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str | None
    platform_account_id: str | None
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None = None
    account_id: uuid.UUID | None = None
    released_at: datetime | None = None
    release_reason: str | None = None
    # The database's clock when the row was read: every replica judges expiry by the same clock.
    read_at: datetime | None = None

    def state(self, now: datetime | None = None) -> ReservationState:
        """Expiry is read from the clock here, so no answer depends on the sweeper having run.

        Without `now`, the database time the reservation was read at.
        """
        now = now or self.read_at
        if now is None:
            raise ValueError("no clock: pass `now` or read the reservation from the database")
        if self.confirmed_at is not None:
            return "confirmed"
        if self.released_at is not None:
            return "expired" if self.release_reason == EXPIRED else "released"
        if self.expires_at <= now:
            return "expired"
        return "pending"


def check_confirmable(reservation: Reservation, now: datetime | None = None) -> bool:
    """True when a confirm must be recorded, False when it already was (idempotent).

    An expired reservation is still confirmed: the account exists by now, and the count must
    say so even if the slot was given up. Only an explicit release refuses.
    """
    state = reservation.state(now)
    if state == RELEASED:
        raise ReservationConflictError(reservation.id, state)
    return state != "confirmed"


def check_releasable(reservation: Reservation, now: datetime | None = None) -> bool:
    """True when a release must be recorded, False when there is nothing left to release."""
    state = reservation.state(now)
    if state == "confirmed":
        raise ReservationConflictError(reservation.id, state)
    return state == "pending"
