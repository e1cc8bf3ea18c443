"""Admitting accounts into the registry: slot reservations, the write, and settling the slots.

The order is what keeps billing and the registry in step (docs/billing-gate.md, "The
connector's flow"):

1. a reservation per account, under an id chosen here and kept, so an unanswered reserve can be
   retried (the gate may have granted it) or released. A known identity (a reconnect) needs no
   slot: the gate says so. One refused reservation refuses them all: the granted ones are
   released and nothing is written (all or nothing);
2. every account created or reconnected in place in one transaction, whose commit writes the
   `account.connected` events to the outbox;
3. the reservations confirmed after the commit (a lost confirm is settled by the
   `account.connected` event anyway), or released when the account turned out to exist already
   (another connect made it meanwhile) and so needs no slot.

A failure between 1 and 2 releases what was reserved; a crash there leaves the reservations to
expire after `reservation_ttl_s`. A slot is therefore never kept without its account, and an
account is never created without a slot, except by the gate's own rule for a reservation that
expired before its confirm (docs/billing-gate.md, "A late confirm may go over the cap").
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from connector.domain.accounts import AccountSpec
from connector.domain.errors import (
    BillingUnavailableError,
    NotFoundError,
    PlanLimitError,
    WrongAccountError,
)
from connector.service_layer.gateways import BillingGateway
from connector.service_layer.unit_of_work import AbstractConnectorUnitOfWork
from mooring.accounts import Account
from mooring.accounts.port import AccountExistsError
from mooring.accounts.tokens import credentials_from
from mooring.billing import BillingRequestError, BillingUnavailable, PlanLimitReached

__all__ = ["Admission", "Admitted"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Admitted:
    account: Account
    created: bool


@dataclass
class _Held:
    """Reservations this admission holds, by identity; released unless settled."""

    by_identity: dict[tuple[str, str], uuid.UUID] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Admission:
    uow: Callable[[], AbstractConnectorUnitOfWork]
    billing: BillingGateway
    reservation_ttl_s: int = 300
    billing_attempts: int = 3
    retry_wait_s: float = 0.1

    async def admit(
        self,
        workspace_id: uuid.UUID,
        specs: Sequence[AccountSpec],
        *,
        reconnect_account_id: uuid.UUID | None = None,
    ) -> list[Admitted]:
        """Create or reconnect one account per spec, all or none; see the module's docstring."""
        if reconnect_account_id is not None:
            return [await self._reconnect(workspace_id, reconnect_account_id, specs)]
        held = _Held()
        try:
            for spec in specs:
                await self._reserve(workspace_id, spec, held)
            admitted = await self._write(workspace_id, specs)
        except BaseException:
            await self._release(workspace_id, list(held.by_identity.values()))
            raise
        await self._settle(workspace_id, admitted, held)
        return admitted

    # -- 1. reservations ----------------------------------------------------------------------

    async def _reserve(self, workspace_id: uuid.UUID, spec: AccountSpec, held: _Held) -> None:
        identity = (spec.platform, spec.platform_account_id)
        reservation_id = uuid.uuid4()
        answer: object = None
        for attempt in range(self.billing_attempts):
            if attempt:
                await asyncio.sleep(self.retry_wait_s * attempt)
            answer = await self.billing.reserve(
                workspace_id,
                spec.platform,
                spec.platform_account_id,
                reservation_id=reservation_id,
                ttl_s=self.reservation_ttl_s,
            )
            if not isinstance(answer, BillingUnavailable):
                break
        if isinstance(answer, BillingUnavailable):
            # The gate may have granted it without our hearing: give it back too.
            held.by_identity[identity] = reservation_id
            logger.warning(
                "billing-gate did not answer a reservation",
                extra={"workspace_id": str(workspace_id), "reason": answer.reason},
            )
            raise BillingUnavailableError(answer.retry_after_s)
        if isinstance(answer, PlanLimitReached):
            raise PlanLimitError(answer.problem)
        assert answer is not None  # noqa: S101 - the loop ran at least once
        if getattr(answer, "reservation_id", None) is not None:
            held.by_identity[identity] = reservation_id

    async def _release(self, workspace_id: uuid.UUID, reservation_ids: list[uuid.UUID]) -> None:
        for reservation_id in reservation_ids:
            try:
                released = await self.billing.release(workspace_id, reservation_id)
            except BillingRequestError as exc:
                released = None
                logger.warning("a reservation could not be released", extra={"why": str(exc)})
            if isinstance(released, BillingUnavailable):
                # It expires on its own after reservation_ttl_s.
                logger.warning(
                    "a reservation was not released (billing-gate did not answer)",
                    extra={"reservation_id": str(reservation_id)},
                )

    # -- 2. the write -------------------------------------------------------------------------

    async def _write(self, workspace_id: uuid.UUID, specs: Sequence[AccountSpec]) -> list[Admitted]:
        async with self.uow() as uow:
            admitted = [await _create_or_reconnect(uow, workspace_id, spec) for spec in specs]
            await uow.commit()
        return admitted

    async def _reconnect(
        self, workspace_id: uuid.UUID, account_id: uuid.UUID, specs: Sequence[AccountSpec]
    ) -> Admitted:
        """An explicit reconnect: that account, and only if the same identity came back.

        A reconnect needs no slot (the account holds one), so billing is not asked.
        """
        (spec,) = specs
        async with self.uow() as uow:
            account = await uow.accounts.get(account_id, lock=True)
            if account is None or account.workspace_id != workspace_id:
                raise NotFoundError("account")
            if (account.platform, account.platform_account_id) != (
                spec.platform,
                spec.platform_account_id,
            ):
                raise WrongAccountError(account_id)
            reconnect_in_place(account, spec)
            await uow.accounts.save(account)
            await uow.commit()
        return Admitted(account, created=False)

    # -- 3. settling --------------------------------------------------------------------------

    async def _settle(self, workspace_id: uuid.UUID, admitted: list[Admitted], held: _Held) -> None:
        unneeded = []
        for item in admitted:
            account = item.account
            reservation_id = held.by_identity.get((account.platform, account.platform_account_id))
            if reservation_id is None:
                continue
            if not item.created:
                unneeded.append(reservation_id)
                continue
            await self._confirm(workspace_id, reservation_id, account)
        await self._release(workspace_id, unneeded)

    async def _confirm(
        self, workspace_id: uuid.UUID, reservation_id: uuid.UUID, account: Account
    ) -> None:
        for attempt in range(self.billing_attempts):
            if attempt:
                await asyncio.sleep(self.retry_wait_s * attempt)
            try:
                answer = await self.billing.confirm(
                    workspace_id,
                    reservation_id,
                    account_id=account.id,
                    platform=account.platform,
                    platform_account_id=account.platform_account_id,
                )
            except BillingRequestError as exc:
                logger.warning(
                    "billing-gate refused a confirm", extra={"status": exc.status, "why": str(exc)}
                )
                return
            if not isinstance(answer, BillingUnavailable):
                return
        # account.connected (in the outbox already) settles it when billing-gate consumes it.
        logger.warning(
            "a reservation was not confirmed (billing-gate did not answer); the account's "
            "connected event will settle it",
            extra={"account_id": str(account.id), "reservation_id": str(reservation_id)},
        )


async def _create_or_reconnect(
    uow: AbstractConnectorUnitOfWork, workspace_id: uuid.UUID, spec: AccountSpec
) -> Admitted:
    existing = await uow.accounts.find_identity(
        workspace_id, spec.platform, spec.platform_account_id, lock=True
    )
    if existing is None:
        account = new_account(workspace_id, spec)
        try:
            await uow.accounts.add(account)
        except AccountExistsError:
            # Another connect of the same identity committed first: reconnect that row.
            existing = await uow.accounts.find_identity(
                workspace_id, spec.platform, spec.platform_account_id, lock=True
            )
            if existing is None:  # removed again meanwhile: nothing sensible to do but retry
                raise
        else:
            return Admitted(account, created=True)
    reconnect_in_place(existing, spec)
    await uow.accounts.save(existing)
    return Admitted(existing, created=False)


def new_account(workspace_id: uuid.UUID, spec: AccountSpec) -> Account:
    tokens = spec.tokens
    return Account.connect(
        workspace_id=workspace_id,
        platform=spec.platform,
        platform_account_id=spec.platform_account_id,
        credentials=credentials_from(tokens, extra=dict(spec.extra)),
        account_type=spec.account_type,
        username=spec.profile.username,
        display_name=spec.profile.display_name,
        avatar_url=spec.profile.avatar_url,
        token_expires_at=tokens.expires_at,
        token_issued_at=tokens.issued_at,
        refresh_expires_at=tokens.refresh_expires_at,
        service_url=tokens.service_url,
        meta=dict(spec.meta),
    )


def reconnect_in_place(account: Account, spec: AccountSpec) -> None:
    """The same identity authorised again: new secrets, status connected, the refresh-failure
    streak over; id, `active`, and a stored refresh token the new grant lacks are kept."""
    tokens = spec.tokens
    previous = account.credentials
    account.reconnect(
        credentials_from(tokens, previous=previous, extra={**previous.extra, **spec.extra}),
        account_type=spec.account_type,
        username=spec.profile.username or account.username,
        display_name=spec.profile.display_name or account.display_name,
        avatar_url=spec.profile.avatar_url or account.avatar_url,
        token_expires_at=tokens.expires_at,
        token_issued_at=tokens.issued_at,
        refresh_expires_at=(
            tokens.refresh_expires_at if tokens.refresh_token else account.refresh_expires_at
        ),
        service_url=tokens.service_url or account.service_url,
        refresh_failures=0,
        refresh_failing_since=None,
        last_refresh_failure_at=None,
        last_failure=None,
        next_refresh_at=None,
        meta={**account.meta, **spec.meta},
    )
