"""The gate's use cases on the in-memory unit of work: no PostgreSQL, no Kafka, milliseconds.

The same rules are tested against the real database in test_projection.py and test_http_api.py;
these show the service layer's decisions on their own, the way the other services test theirs.
"""

import uuid
from datetime import timedelta

import pytest
from pydantic import SecretStr

from billing_gate.domain.accounts import Identity
from billing_gate.domain.errors import ReservationConflictError
from billing_gate.domain.plans import PlanCatalogue
from billing_gate.service_layer.gate import BillingGate
from billing_gate.service_layer.projection import count_connected, forget_removed
from billing_gate.testing import FakeBillingUnitOfWork
from mooring.accounts import Account, Credentials
from mooring.events import utcnow

CATALOGUE = PlanCatalogue.from_limits({"starter": 2, "plus": 10}, default="starter")


def gate_on(uow: FakeBillingUnitOfWork, mode: str = "cloud") -> BillingGate:
    return BillingGate(
        uow=lambda: uow,
        catalogue=CATALOGUE,
        mode=mode,  # type: ignore[arg-type]
        reservation_ttl=timedelta(minutes=15),
    )


async def connect(uow: FakeBillingUnitOfWork, ws: uuid.UUID, identity: Identity) -> uuid.UUID:
    account_id = uuid.uuid4()
    async with uow:
        await count_connected(
            uow, workspace_id=ws, account_id=account_id, identity=identity, connected_at=utcnow()
        )
        await uow.commit()
    return account_id


async def test_self_hosted_never_denies_whatever_the_plan_and_usage() -> None:
    uow = FakeBillingUnitOfWork()
    gate = gate_on(uow, mode="self_hosted")
    ws = uuid.uuid4()
    for i in range(12):
        await connect(uow, ws, Identity("x", str(i)))
    decision = await gate.decision(ws)
    assert (decision.allowed, decision.reason, decision.limit, decision.used) == (
        True,
        "unlimited",
        None,
        12,
    )
    outcome = await gate.reserve(ws, Identity("x", "new"))
    assert outcome.decision.allowed
    assert outcome.reservation is None  # nothing to hold when nothing caps
    usage = await gate.usage(ws)
    assert (usage.limit, usage.used, usage.upgrade_to) == (None, 12, None)


async def test_at_the_cap_a_new_identity_is_refused_and_an_upgrade_named() -> None:
    uow = FakeBillingUnitOfWork()
    gate = gate_on(uow)
    ws = uuid.uuid4()
    await connect(uow, ws, Identity("x", "1"))
    granted = await gate.reserve(ws, Identity("x", "2"))
    assert granted.decision.allowed
    assert granted.reservation is not None
    refused = await gate.reserve(ws, Identity("x", "3"))
    assert not refused.decision.allowed
    assert (refused.decision.used, refused.decision.reserved) == (1, 1)
    assert refused.decision.upgrade_to == "plus"


async def test_a_user_removed_account_is_a_new_account_when_added_again() -> None:
    uow = FakeBillingUnitOfWork()
    gate = gate_on(uow)
    ws, a, b = uuid.uuid4(), Identity("x", "a"), Identity("x", "b")
    account_a = await connect(uow, ws, a)
    await connect(uow, ws, b)
    assert not (await gate.decision(ws, Identity("x", "c"))).allowed
    async with uow:
        await forget_removed(
            uow, workspace_id=ws, account_id=account_a, identity=a, reason="removed",
            disconnected_at=utcnow() + timedelta(seconds=1),
        )  # fmt: skip
        await uow.commit()
    again = await gate.decision(ws, a)
    assert again.allowed
    assert again.reason == "within_limit"  # not "known_identity": it takes a slot again
    assert again.needs_slot


@pytest.mark.parametrize("reason", ["token_expired", "revoked", "refresh_failed"])
async def test_an_account_lost_to_a_token_failure_keeps_its_slot_and_reconnects_at_the_cap(
    reason: str,
) -> None:
    uow = FakeBillingUnitOfWork()
    gate = gate_on(uow)
    ws, a = uuid.uuid4(), Identity("x", "a")
    account_a = await connect(uow, ws, a)
    await connect(uow, ws, Identity("x", "b"))
    async with uow:
        await forget_removed(
            uow, workspace_id=ws, account_id=account_a, identity=a, reason=reason,
            disconnected_at=utcnow(),
        )  # fmt: skip
        await uow.commit()
    assert (await gate.usage(ws)).used == 2
    reconnect = await gate.reserve(ws, a)
    assert reconnect.decision.allowed
    assert reconnect.decision.reason == "known_identity"
    assert reconnect.reservation is None  # a reconnect needs no slot


async def test_a_row_in_the_shared_accounts_table_is_a_known_identity_before_the_events_arrive() -> (
    None
):
    ws = uuid.uuid4()
    rows = [
        Account(
            id=uuid.uuid4(),
            workspace_id=ws,
            platform="x",
            platform_account_id=str(i),
            credentials=Credentials(access_token=SecretStr("t")),
        )
        for i in range(2)
    ]
    uow = FakeBillingUnitOfWork(rows)
    gate = gate_on(uow)
    await connect(uow, ws, Identity("x", "0"))
    await connect(uow, ws, Identity("x", "9"))
    decision = await gate.decision(ws, Identity("x", "1"))
    assert (decision.allowed, decision.reason) == (True, "known_identity")


async def test_a_released_reservation_cannot_be_confirmed_and_nothing_is_counted() -> None:
    uow = FakeBillingUnitOfWork()
    gate = gate_on(uow)
    ws = uuid.uuid4()
    outcome = await gate.reserve(ws, Identity("x", "1"))
    assert outcome.reservation is not None
    await gate.release(ws, outcome.reservation.id)
    with pytest.raises(ReservationConflictError):
        await gate.confirm(ws, outcome.reservation.id, account_id=uuid.uuid4())
    assert (await gate.usage(ws)).used == 0  # the failed confirm's transaction rolled back


async def test_a_late_confirm_counts_the_account_even_past_the_cap() -> None:
    uow = FakeBillingUnitOfWork()
    gate = gate_on(uow)
    ws = uuid.uuid4()
    held = await gate.reserve(ws, Identity("x", "1"))
    assert held.reservation is not None
    uow.billing.now += timedelta(minutes=16)  # the slot expired; two others took the cap
    await connect(uow, ws, Identity("x", "2"))
    await connect(uow, ws, Identity("x", "3"))
    confirmed = await gate.confirm(ws, held.reservation.id, account_id=uuid.uuid4())
    assert confirmed.confirmed_at is not None
    assert (await gate.usage(ws)).used == 3  # over the cap of 2: the account exists
