"""Usage as a projection, driven step by step against the real database (no Kafka).

Each test fixes the order in which events and requests arrive, so a re-ordering is a case the
test states, not something the broker happens to do.
"""

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from billing_gate.domain.accounts import Identity
from billing_gate.domain.errors import ReservationConflictError

from .conftest import Core, add_shared_account

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
X = Identity("mastodon", "alice@example.social")


async def connected(
    core: Core,
    ws: uuid.UUID,
    account: uuid.UUID,
    identity: Identity = X,
    *,
    at: datetime = T0,
    event_id: uuid.UUID | None = None,
) -> None:
    await core.projection.account_connected(
        event_id or uuid.uuid4(),
        workspace_id=ws,
        account_id=account,
        identity=identity,
        connected_at=at,
    )


async def disconnected(
    core: Core,
    ws: uuid.UUID,
    account: uuid.UUID,
    identity: Identity = X,
    *,
    at: datetime = T0,
    reason: str = "removed",
) -> None:
    await core.projection.account_disconnected(
        uuid.uuid4(),
        workspace_id=ws,
        account_id=account,
        identity=identity,
        reason=reason,
        disconnected_at=at,
    )


async def used(core: Core, ws: uuid.UUID) -> int:
    return (await core.gate.usage(ws)).used


async def test_a_late_connect_of_a_removed_account_settles_nothing_and_never_over_grants(
    core: Core,
) -> None:
    """Confirm R1 for id1; removal of id1; R2 for the same identity; the late
    account.connected(id1) must leave R2 alone, so the confirm of R2 for id2 counts id2."""
    ws, id1, id2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await core.gate.change_plan(ws, "starter")
    for i in range(3):  # 3 other accounts: the workspace ends at the cap, 5 of 5
        await connected(core, ws, uuid.uuid4(), Identity("x", str(i)))

    r1 = await core.gate.reserve(ws, X, reservation_id=uuid.uuid4())
    assert r1.reservation is not None
    await core.gate.confirm(ws, r1.reservation.id, account_id=id1)
    await disconnected(core, ws, id1, at=T0 + timedelta(minutes=5))
    r2 = await core.gate.reserve(ws, X, reservation_id=uuid.uuid4())
    assert r2.created
    assert r2.reservation is not None
    await connected(core, ws, id1, at=T0)  # late: older than its removal
    pending = await core.gate.reservation(ws, r2.reservation.id)
    assert (pending.state(), pending.account_id) == ("pending", None)

    confirmed = await core.gate.confirm(ws, r2.reservation.id, account_id=id2)
    assert (confirmed.state(), confirmed.account_id) == ("confirmed", id2)
    assert await used(core, ws) == 4
    await core.gate.reserve(ws, Identity("x", "last"))  # the fifth and last slot
    full = await core.gate.reserve(ws, Identity("x", "one-too-many"))
    assert not full.decision.allowed


async def test_a_confirm_counts_its_account_even_when_the_event_settled_the_reservation(
    core: Core,
) -> None:
    ws, account = uuid.uuid4(), uuid.uuid4()
    held = await core.gate.reserve(ws, X)
    assert held.reservation is not None
    await connected(core, ws, account)  # the event overtakes the confirm and settles it
    again = await core.gate.confirm(ws, held.reservation.id, account_id=account)
    assert (again.state(), again.account_id) == ("confirmed", account)
    assert await used(core, ws) == 1

    other = uuid.uuid4()
    with pytest.raises(ReservationConflictError) as err:
        await core.gate.confirm(ws, held.reservation.id, account_id=other)
    assert err.value.account_id == account
    assert await used(core, ws) == 2  # the other account exists: it is counted all the same


async def test_a_reconnect_whose_first_connect_was_never_seen_is_counted(core: Core) -> None:
    ws, account = uuid.uuid4(), uuid.uuid4()
    await core.projection.account_connected(
        uuid.uuid4(), workspace_id=ws, account_id=account, identity=X, connected_at=T0
    )
    assert await used(core, ws) == 1
    await connected(core, ws, account, at=T0 + timedelta(days=1))  # reconnect in place
    assert await used(core, ws) == 1
    decision = await core.gate.decision(ws, X)
    assert decision.reason == "known_identity"


@pytest.mark.parametrize(
    ("events", "counts"),
    [
        ((("connect", 0), ("remove", 1)), False),
        ((("connect", 0), ("remove", 1), ("connect", 2)), True),
        ((("connect", 0), ("connect", 0), ("remove", 1), ("remove", 1)), False),
        ((("connect", 0), ("remove", 1), ("remove", 3), ("connect", 2)), False),
    ],
)
async def test_the_newest_event_wins_in_every_delivery_order(
    core: Core, events: tuple[tuple[str, int], ...], counts: bool
) -> None:
    """A removal is not forever; whichever event is newest decides."""
    for order in set(itertools.permutations(events)):
        ws, account = uuid.uuid4(), uuid.uuid4()
        for kind, minute in order:
            at = T0 + timedelta(minutes=minute)
            if kind == "connect":
                await connected(core, ws, account, at=at)
            else:
                await disconnected(core, ws, account, at=at)
        assert await used(core, ws) == int(counts), order


async def test_only_a_removal_frees_a_slot_and_duplicates_change_nothing(core: Core) -> None:
    ws = uuid.uuid4()
    kept, removed = uuid.uuid4(), uuid.uuid4()
    event = uuid.uuid4()
    await connected(core, ws, kept, Identity("x", "kept"), event_id=event)
    await connected(core, ws, kept, Identity("x", "kept"), event_id=event)  # exact duplicate
    await connected(core, ws, kept, Identity("x", "kept"))  # same account, another event
    for reason in ("token_expired", "revoked", "refresh_failed"):
        await disconnected(core, ws, kept, Identity("x", "kept"), reason=reason)
    await connected(core, ws, removed, Identity("x", "removed"))
    await disconnected(core, ws, removed, Identity("x", "removed"), at=T0 + timedelta(seconds=1))
    assert await used(core, ws) == 1


async def test_a_reconnect_at_the_cap_is_known_from_the_accounts_table_before_its_event(
    core: Core,
) -> None:
    """The projection lags; the shared aggregate already holds the account."""
    ws = uuid.uuid4()
    for i in range(5):
        await connected(core, ws, uuid.uuid4(), Identity("x", str(i)))
    identity = Identity("bluesky", "did:plc:lagging")
    await add_shared_account(core.engine, ws, identity.platform, identity.platform_account_id)
    decision = await core.gate.decision(ws, identity)
    assert (decision.allowed, decision.reason) == (True, "known_identity")
    outcome = await core.gate.reserve(ws, identity)
    assert (outcome.decision.allowed, outcome.reservation) == (True, None)
    assert not (await core.gate.decision(ws, Identity("bluesky", "someone-else"))).allowed


async def test_an_identity_less_reservation_is_never_settled_by_an_event(core: Core) -> None:
    ws = uuid.uuid4()
    held = await core.gate.reserve(ws)
    assert held.reservation is not None
    await connected(core, ws, uuid.uuid4())
    state = await core.gate.reservation(ws, held.reservation.id)
    assert state.state() == "pending"
