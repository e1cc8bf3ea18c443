"""A typed client for billing-gate, for services that must ask before adding an account."""

from __future__ import annotations

from mooring.billing.client import (
    Allowed,
    BillingClient,
    BillingClientSettings,
    BillingRequestError,
    BillingUnavailable,
    PlanLimitReached,
    Released,
    ReservationStatus,
    Usage,
)

__all__ = [
    "Allowed",
    "BillingClient",
    "BillingClientSettings",
    "BillingRequestError",
    "BillingUnavailable",
    "PlanLimitReached",
    "Released",
    "ReservationStatus",
    "Usage",
]
