"""The pure rules: two strikes, recovery, the delivery fold and the stuck decision."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from health_checker.domain.checks import (
    Checked,
    disconnect_reason,
    needs_write_on_success,
    strike,
    succeed,
)
from health_checker.domain.deliveries import (
    Delivery,
    DeliveryEvent,
    DeliveryState,
    decide,
    fold,
    in_flight,
    superseded,
)
from mooring.accounts import Account, Credentials
from mooring.events import AccountDisconnected, AccountUpdated

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RUN = uuid.uuid4()


def account(status: str = "connected", auth_failures: int = 0, **fields) -> Account:
    a = Account(
        id=uuid.uuid4(),
        workspace_id=uuid.uuid4(),
        platform="x",
        platform_account_id="1",
        credentials=Credentials(access_token=SecretStr("tok")),
        auth_failures=auth_failures,
        **fields,
    )
    a.status = status  # type: ignore[assignment]
    return a


def strike_of(a: Account, *, status_before: str | None = None, started=NOW - timedelta(minutes=5)):
    return strike(
        a,
        status_before=status_before or a.status,  # type: ignore[arg-type]
        reason="revoked",
        check_run_id=RUN,
        run_started_at=started,
        at=NOW,
    )


def test_first_strike_expires_a_connected_account_and_reports_the_incident() -> None:
    a = account()
    assert strike_of(a) is Checked.EXPIRED
    assert (a.status, a.auth_failures, a.last_checked_at) == ("token_expired", 1, NOW)
    [event] = a.events
    assert isinstance(event, AccountDisconnected)
    assert (event.reason, event.status, event.check_run_id) == ("revoked", "token_expired", RUN)


def test_second_strike_disconnects_with_an_update_not_a_second_incident() -> None:
    a = account("token_expired", auth_failures=1, last_checked_at=NOW - timedelta(days=1))
    assert strike_of(a) is Checked.DISCONNECTED
    assert (a.status, a.auth_failures) == ("disconnected", 2)
    [event] = a.events
    assert isinstance(event, AccountUpdated)
    assert (event.status, event.changed, event.check_run_id) == ("disconnected", ["status"], RUN)


def test_a_token_expired_account_without_a_recorded_strike_has_had_its_first() -> None:
    a = account("token_expired", auth_failures=0)  # token-keeper's refused refresh put it there
    assert strike_of(a) is Checked.DISCONNECTED


def test_a_refresh_that_already_expired_it_in_this_check_is_still_the_first_strike() -> None:
    a = account("token_expired", auth_failures=0)  # refresh_account expired it a moment ago
    assert strike_of(a, status_before="connected") is Checked.EXPIRED
    assert (a.status, a.auth_failures) == ("token_expired", 1)
    assert a.events == []  # the incident was refresh_account's event


def test_one_run_never_counts_two_failures_against_one_account() -> None:
    a = account("token_expired", auth_failures=1, last_checked_at=NOW - timedelta(minutes=1))
    assert strike_of(a, started=NOW - timedelta(minutes=5)) is Checked.ALREADY
    assert (a.status, a.auth_failures, a.events) == ("token_expired", 1, [])


def test_a_disconnected_account_is_gone_for_the_check() -> None:
    a = account("disconnected", auth_failures=2)
    assert strike_of(a) is Checked.GONE
    assert a.events == []


def test_success_recovers_a_token_expired_account_and_ends_a_streak() -> None:
    expired = account("token_expired", auth_failures=1)
    assert succeed(expired, check_run_id=RUN, at=NOW) is Checked.RECOVERED
    assert (expired.status, expired.auth_failures) == ("connected", 0)
    [event] = expired.events
    assert isinstance(event, AccountUpdated)
    assert (event.status, event.changed, event.check_run_id) == ("connected", ["status"], RUN)

    streak = account("connected", auth_failures=1)
    assert needs_write_on_success(streak)
    assert succeed(streak, check_run_id=RUN, at=NOW) is Checked.OK
    assert (streak.auth_failures, streak.events) == (0, [])
    assert not needs_write_on_success(account())


def test_the_reason_says_expired_only_when_the_stored_expiry_passed() -> None:
    assert disconnect_reason(account(token_expires_at=NOW - timedelta(seconds=1)), NOW) == (
        "token_expired"
    )
    assert disconnect_reason(account(token_expires_at=NOW + timedelta(hours=1)), NOW) == "revoked"
    assert disconnect_reason(account(), NOW) == "revoked"


# -- deliveries ---------------------------------------------------------------------------------

POST, DELIVERY, ACCOUNT, WS = (uuid.uuid4() for _ in range(4))


def event(state: DeliveryState, attempt: int = 1, minutes: int = 0) -> DeliveryEvent:
    return DeliveryEvent(
        state=state,
        delivery_id=DELIVERY,
        post_id=POST,
        account_id=ACCOUNT,
        workspace_id=WS,
        platform="x",
        attempt=attempt,
        at=NOW + timedelta(minutes=minutes),
    )


def fold_all(events) -> Delivery:
    current = None
    for e in events:
        current = fold(current, e)
    assert current is not None
    return current


P, D, F = DeliveryState.PUBLISHING, DeliveryState.PUBLISHED, DeliveryState.FAILED


@pytest.mark.parametrize(
    ("events", "state", "attempt", "since_minutes"),
    [
        ([event(P), event(D, minutes=3)], D, 1, 0),
        ([event(P), event(F, minutes=3)], F, 1, 0),
        ([event(P), event(F, minutes=3), event(P, 2, minutes=10)], P, 2, 10),
        (
            [event(P), event(F, minutes=3), event(P, 2, minutes=10), event(D, 2, minutes=12)],
            D,
            2,
            10,
        ),
        ([event(P), event(P, minutes=1)], P, 1, 0),
        ([event(P, 2, minutes=5), event(D, 1, minutes=2)], D, 2, 5),
    ],
    ids=["published", "failed", "retried", "retried-published", "twice", "old-published"],
)
def test_the_fold_ends_the_same_whatever_the_order_and_the_copies(
    events, state, attempt, since_minutes
) -> None:
    for order in itertools.permutations([*events, *events]):  # every order, every event twice
        folded = fold_all(order)
        assert (folded.state, folded.attempt) == (state, attempt), order
        if state is P:
            assert folded.publishing_since == NOW + timedelta(minutes=since_minutes)
        assert folded.last_event_at == max(e.at for e in events)


def test_a_late_publishing_never_reopens_a_finished_attempt() -> None:
    assert fold_all([event(D, minutes=5), event(P)]).state is D
    assert fold_all([event(F, minutes=5), event(P)]).state is F
    assert fold_all([event(D, minutes=5), event(P, 2, minutes=9)]).state is D  # published: final


def delivery(attempt=1, state=P, since_minutes=-120, delivery_id=None, account_id=None) -> Delivery:
    return Delivery(
        delivery_id=delivery_id or uuid.uuid4(),
        post_id=POST,
        account_id=account_id or ACCOUNT,
        workspace_id=WS,
        platform="x",
        attempt=attempt,
        state=state,
        publishing_since=NOW + timedelta(minutes=since_minutes) if state is P else None,
        last_event_at=NOW,
    )


def test_the_decision_retries_while_attempts_are_left_and_the_account_can_publish() -> None:
    assert decide(delivery(1), account(), max_attempts=3).decision == "retry"
    assert decide(delivery(3), account(), max_attempts=3).reason == "attempts_exhausted"
    assert decide(delivery(1), None, max_attempts=3).reason == "account_removed"
    assert decide(delivery(1), account("token_expired"), max_attempts=3).reason == (
        "account_token_expired"
    )
    assert decide(delivery(1), account(active=False), max_attempts=3).reason == "account_inactive"
    assert decide(delivery(1), account("disconnected"), max_attempts=3).decision == "failed"


def test_in_flight_and_superseded() -> None:
    cutoff = NOW - timedelta(minutes=60)
    stuck = delivery(since_minutes=-120)
    assert not in_flight([stuck], stuck_before=cutoff)
    assert in_flight([stuck, delivery(since_minutes=-5)], stuck_before=cutoff)
    assert not in_flight([stuck, delivery(state=D)], stuck_before=cutoff)
    assert superseded(stuck, [stuck, delivery(attempt=2, state=D)])
    assert not superseded(stuck, [stuck, delivery(attempt=2, account_id=uuid.uuid4())])
    assert not superseded(stuck, [stuck, delivery(attempt=1)])
