"""The notifier's refusals as RFC 9457 problem details with stable types."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from mooring.service.problems import Problem
from notifier.domain.errors import (
    DeliveryNotFoundError,
    DeliveryNotRetryableError,
    NotificationNotFoundError,
)
from notifier.entrypoints.schemas import InvalidCursorError

__all__ = ["OWNER_ONLY", "domain_errors", "owner_not_found", "owner_only"]

OWNER_ONLY = "owner-only"


def owner_only() -> Problem:
    return Problem(
        403,
        OWNER_ONLY,
        "Only the workspace owner may do this",
        "E-mail preferences are the owner's: admins and members can read them, not change them.",
    )


def owner_not_found() -> Problem:
    return Problem(
        404, "owner-not-found", "No owner known", "No owner is known for this workspace."
    )


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    """Re-raise the domain's refusals as problems the kernel's handler renders."""
    try:
        yield
    except NotificationNotFoundError as exc:
        raise Problem(404, "notification-not-found", "Notification not found", str(exc)) from exc
    except DeliveryNotFoundError as exc:
        raise Problem(404, "delivery-not-found", "Delivery not found", str(exc)) from exc
    except DeliveryNotRetryableError as exc:
        raise Problem(
            409, "delivery-not-retryable", "Delivery cannot be retried", str(exc), state=exc.status
        ) from exc
    except InvalidCursorError as exc:
        raise Problem(422, "invalid-cursor", "Invalid cursor", str(exc)) from exc
