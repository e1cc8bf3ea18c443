"""How every platform call ends: `ok`, `revoked`, `transient` or `policy`.

Only `revoked` may change an account's status; `transient` carries the delay the platform asked
for (or none, leaving the back-off to the caller); `policy` is a rule the platform or Mooring
enforces (missing scope, quota, a refresh that is not allowed yet) and is not a dead token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

__all__ = ["Classification", "Outcome"]


class Outcome(StrEnum):
    OK = "ok"
    REVOKED = "revoked"
    TRANSIENT = "transient"
    POLICY = "policy"


@dataclass(frozen=True, kw_only=True, slots=True)
class Classification:
    """One classified outcome.

    `reason` is a short machine-readable code (`invalid_grant`, `meta_190`, `http_429`,
    `timeout`, ...); `detail` is for operators and never contains a token.
    """

    outcome: Outcome
    reason: str
    retry_after: timedelta | None = None
    status_code: int | None = None
    detail: str = ""

    @classmethod
    def ok(cls) -> Classification:
        return cls(outcome=Outcome.OK, reason="ok")

    @classmethod
    def revoked(
        cls, reason: str, *, status_code: int | None = None, detail: str = ""
    ) -> Classification:
        return cls(outcome=Outcome.REVOKED, reason=reason, status_code=status_code, detail=detail)

    @classmethod
    def transient(
        cls,
        reason: str,
        *,
        retry_after: timedelta | None = None,
        status_code: int | None = None,
        detail: str = "",
    ) -> Classification:
        return cls(
            outcome=Outcome.TRANSIENT,
            reason=reason,
            retry_after=retry_after,
            status_code=status_code,
            detail=detail,
        )

    @classmethod
    def policy(
        cls,
        reason: str,
        *,
        retry_after: timedelta | None = None,
        status_code: int | None = None,
        detail: str = "",
    ) -> Classification:
        return cls(
            outcome=Outcome.POLICY,
            reason=reason,
            retry_after=retry_after,
            status_code=status_code,
            detail=detail,
        )

    @property
    def is_ok(self) -> bool:
        return self.outcome is Outcome.OK
