"""The billing-gate client: a short-timeout HTTP call whose every outcome is a typed value.

    Allowed             may add the account (`reservation_id` set when a slot is now held)
    PlanLimitReached    402: answer 402 with `problem` (plan, limit, used, upgrade_to)
    BillingUnavailable  timeout, connection error or 5xx: on cloud, answer 503 + Retry-After.
                        From `reserve` it carries the `reservation_id` that was sent: the gate
                        may have granted it, so retry with it (idempotent) or release it
    BillingRequestError (raised) a request the gate refuses for a reason retrying cannot fix:
                        a wrong service token, an unknown reservation, a validation error

`timeout_s` is the whole request's budget (connect, write, wait, read together), enforced with
`asyncio.timeout`; httpx's own timeout applies per phase and would allow several times as long.

The caller decides what unavailability means: a cloud deployment must not admit accounts it
could not count, so it answers 503; a self-hosted one has no cap and need not ask at all.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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


class BillingClientSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MOORING_BILLING_", extra="ignore", frozen=True)

    base_url: str = "http://127.0.0.1:8105"
    timeout_s: float = Field(
        default=0.5,
        gt=0,
        description="Whole-request budget (all phases together): a connect must not hang on "
        "billing. Keep it above the gate's BILLING_GATE_LOCK_TIMEOUT_MS.",
    )
    service_token: SecretStr = SecretStr("")
    retry_after_s: int = Field(
        default=5, ge=1, description="Retry-After to suggest when billing-gate does not answer."
    )


@dataclass(frozen=True)
class Allowed:
    reason: str  # within_limit | known_identity | unlimited
    plan: str
    limit: int | None
    used: int
    reserved: int
    reservation_id: uuid.UUID | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class PlanLimitReached:
    plan: str
    limit: int | None
    used: int
    reserved: int
    upgrade_to: str | None
    problem: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BillingUnavailable:
    """No answer in time. `reservation_id` (from `reserve`) may have been granted anyway."""

    reason: str
    retry_after_s: int
    reservation_id: uuid.UUID | None = None


@dataclass(frozen=True)
class ReservationStatus:
    reservation_id: uuid.UUID
    status: str  # pending | confirmed | released | expired
    account_id: uuid.UUID | None
    expires_at: datetime


@dataclass(frozen=True)
class Released:
    reservation_id: uuid.UUID


@dataclass(frozen=True)
class Usage:
    plan: str
    limit: int | None
    used: int
    reserved: int
    upgrade_to: str | None


class BillingRequestError(Exception):
    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(
            f"billing-gate answered {status}: {problem.get('type', 'no problem type')}"
        )
        self.status = status
        self.problem = problem


Decision = Allowed | PlanLimitReached | BillingUnavailable


class BillingClient:
    """One per process; pass `http` to share a pool or to test with `httpx.MockTransport`."""

    def __init__(
        self, settings: BillingClientSettings, *, http: httpx.AsyncClient | None = None
    ) -> None:
        self.settings = settings
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(base_url=settings.base_url)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # -- the gate -------------------------------------------------------------------------------

    async def check(
        self,
        workspace_id: uuid.UUID,
        platform: str | None = None,
        platform_account_id: str | None = None,
    ) -> Decision:
        """The early answer when a connect starts; holds nothing."""
        params = _identity(platform, platform_account_id)
        answer = await self._call("GET", f"{_ws(workspace_id)}/decision", params=params)
        return answer if isinstance(answer, BillingUnavailable) else _decision(*answer)

    async def reserve(
        self,
        workspace_id: uuid.UUID,
        platform: str | None = None,
        platform_account_id: str | None = None,
        *,
        reservation_id: uuid.UUID | None = None,
        ttl_s: int | None = None,
    ) -> Decision:
        """Hold a slot for the account about to be created.

        The request always carries a reservation id (yours, or one made up here), so a retry
        after a timeout returns the same reservation instead of a second one. On
        `BillingUnavailable` the id is in `reservation_id`: retry with it, or release it.
        """
        rid = reservation_id or uuid.uuid4()
        body: dict[str, Any] = {
            **_identity(platform, platform_account_id),
            "reservation_id": str(rid),
        }
        if ttl_s is not None:
            body["ttl_s"] = ttl_s
        answer = await self._call("POST", f"{_ws(workspace_id)}/reservations", json=body)
        if isinstance(answer, BillingUnavailable):
            return replace(answer, reservation_id=rid)
        return _decision(*answer)

    async def confirm(
        self,
        workspace_id: uuid.UUID,
        reservation_id: uuid.UUID,
        *,
        account_id: uuid.UUID,
        platform: str | None = None,
        platform_account_id: str | None = None,
    ) -> ReservationStatus | BillingUnavailable:
        body = {"account_id": str(account_id), **_identity(platform, platform_account_id)}
        path = f"{_ws(workspace_id)}/reservations/{reservation_id}/confirm"
        answer = await self._call("POST", path, json=body)
        if isinstance(answer, BillingUnavailable):
            return answer
        return _status(_expect_ok(*answer))

    async def release(
        self, workspace_id: uuid.UUID, reservation_id: uuid.UUID
    ) -> Released | BillingUnavailable:
        answer = await self._call("DELETE", f"{_ws(workspace_id)}/reservations/{reservation_id}")
        if isinstance(answer, BillingUnavailable):
            return answer
        _expect_ok(*answer)
        return Released(reservation_id)

    async def usage(self, workspace_id: uuid.UUID) -> Usage | BillingUnavailable:
        answer = await self._call("GET", f"{_ws(workspace_id)}/usage")
        return answer if isinstance(answer, BillingUnavailable) else _usage(_expect_ok(*answer))

    async def set_plan(
        self, workspace_id: uuid.UUID, plan: str, changed_at: datetime | None = None
    ) -> Usage | BillingUnavailable:
        body: dict[str, Any] = {"plan": plan}
        if changed_at is not None:
            body["changed_at"] = changed_at.isoformat()
        answer = await self._call("PUT", f"{_ws(workspace_id)}/plan", json=body)
        return answer if isinstance(answer, BillingUnavailable) else _usage(_expect_ok(*answer))

    # -- transport ------------------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, **kwargs: Any
    ) -> tuple[int, dict[str, Any]] | BillingUnavailable:
        token = self.settings.service_token.get_secret_value()
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                response = await self._http.request(
                    method,
                    path,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=self.settings.timeout_s,
                    **kwargs,
                )
        except (TimeoutError, httpx.TimeoutException):
            return BillingUnavailable("timeout", self.settings.retry_after_s)
        except httpx.TransportError as exc:
            return BillingUnavailable(
                f"unreachable: {type(exc).__name__}", self.settings.retry_after_s
            )
        if response.status_code >= 500:  # noqa: PLR2004
            return BillingUnavailable(
                f"billing-gate answered {response.status_code}", self._retry_after(response)
            )
        body: dict[str, Any] = {}
        if response.content:
            try:
                parsed = response.json()
            except ValueError:
                return BillingUnavailable("unreadable answer", self.settings.retry_after_s)
            body = parsed if isinstance(parsed, dict) else {}
        return response.status_code, body

    def _retry_after(self, response: httpx.Response) -> int:
        value = response.headers.get("Retry-After", "")
        return int(value) if value.isdigit() else self.settings.retry_after_s


def _ws(workspace_id: uuid.UUID) -> str:
    return f"/internal/v1/workspaces/{workspace_id}"


def _identity(platform: str | None, platform_account_id: str | None) -> dict[str, str]:
    """The identity parameters: both or neither. One alone is a caller's bug, never dropped."""
    if platform is None and platform_account_id is None:
        return {}
    if platform is None or platform_account_id is None:
        raise ValueError("give platform and platform_account_id together, or neither")
    return {"platform": platform, "platform_account_id": platform_account_id}


def _expect_ok(status: int, body: dict[str, Any]) -> dict[str, Any]:
    if status >= 300:  # noqa: PLR2004
        raise BillingRequestError(status, body)
    return body


def _decision(status: int, body: dict[str, Any]) -> Allowed | PlanLimitReached:
    if status == 402:  # noqa: PLR2004
        return PlanLimitReached(
            plan=body.get("plan", ""),
            limit=body.get("limit"),
            used=int(body.get("used", 0)),
            reserved=int(body.get("reserved", 0)),
            upgrade_to=body.get("upgrade_to"),
            problem=body,
        )
    body = _expect_ok(status, body)
    reservation_id = body.get("reservation_id")
    expires_at = body.get("expires_at")
    return Allowed(
        reason=body["reason"],
        plan=body["plan"],
        limit=body.get("limit"),
        used=int(body["used"]),
        reserved=int(body["reserved"]),
        reservation_id=uuid.UUID(reservation_id) if reservation_id else None,
        expires_at=datetime.fromisoformat(expires_at) if expires_at else None,
    )


def _status(body: dict[str, Any]) -> ReservationStatus:
    account_id = body.get("account_id")
    return ReservationStatus(
        reservation_id=uuid.UUID(body["reservation_id"]),
        status=body["status"],
        account_id=uuid.UUID(account_id) if account_id else None,
        expires_at=datetime.fromisoformat(body["expires_at"]),
    )


def _usage(body: dict[str, Any]) -> Usage:
    return Usage(
        plan=body["plan"],
        limit=body.get("limit"),
        used=int(body["used"]),
        reserved=int(body["reserved"]),
        upgrade_to=body.get("upgrade_to"),
    )
