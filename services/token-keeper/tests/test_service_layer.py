"""The sweep, the refresher and the on-demand desk on the fakes (no database, no platform)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from mooring.accounts.model import Account, Credentials
from mooring.accounts.refresh import RefreshOutcome
from mooring.events.account import AccountDisconnected
from mooring.events.token import TokenExpiring, TokenRefreshed
from mooring.platforms.outcomes import Classification
from mooring.platforms.testing import ManualClock
from token_keeper.domain.errors import (
    AccountInactiveError,
    AccountNotConnectedError,
    AccountNotFoundError,
    RefreshRefusedError,
    RefreshUnavailableError,
)
from token_keeper.domain.failures import FailureRules
from token_keeper.domain.windows import RefreshRules
from token_keeper.service_layer.refresher import Refresher
from token_keeper.service_layer.sweep import Sweep
from token_keeper.service_layer.tokens import TokenDesk
from token_keeper.testing import FakeKeeperUnitOfWork, ScriptedAdapter, fresh_tokens

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RULES = RefreshRules(
    lead=timedelta(minutes=30), sweep_interval=timedelta(hours=1), extend_window=timedelta(days=10)
)
FAILURES = FailureRules(
    cooldown=timedelta(minutes=5),
    max_backoff=timedelta(hours=1),
    give_up_after_days=3,
    policy_retry=timedelta(hours=6),
)


def x_account(*, expires_in: timedelta, refresh: str | None = "r1", **fields: object) -> Account:
    return Account(
        id=uuid.uuid4(),
        workspace_id=uuid.uuid4(),
        platform=str(fields.pop("platform", "x")),
        platform_account_id=uuid.uuid4().hex,
        credentials=Credentials(
            access_token=SecretStr("a1"), refresh_token=SecretStr(refresh) if refresh else None
        ),
        token_expires_at=START + expires_in,
        token_issued_at=START - timedelta(hours=1),
        **fields,  # type: ignore[arg-type]
    )


class World:
    def __init__(self, *accounts: Account, script: list[object] | None = None) -> None:
        self.clock = ManualClock(START)
        self.uow = FakeKeeperUnitOfWork(accounts)
        self.adapter = ScriptedAdapter(
            "x",
            script=list(script or [fresh_tokens(START)]),  # type: ignore[arg-type]
        )
        self.refresher = Refresher(
            uow=lambda: self.uow,
            adapter_for=lambda _: self.adapter,
            refresh_rules=RULES,
            failure_rules=FAILURES,
            clock=self.clock,
        )
        self.sweep = Sweep(uow=lambda: self.uow, rules=RULES, page_size=2, clock=self.clock)
        self.desk = TokenDesk(
            uow=lambda: self.uow,
            refresher=self.refresher,
            margin=timedelta(minutes=5),
            clock=self.clock,
        )

    def stored(self, account: Account) -> Account:
        return self.uow.accounts.rows[account.id]


async def test_the_sweep_pages_through_and_emits_one_token_expiring_per_due_account() -> None:
    due = [x_account(expires_in=timedelta(minutes=m)) for m in (10, 20, 80)]
    later = x_account(expires_in=timedelta(hours=3))
    gone = x_account(expires_in=timedelta(minutes=5), status="token_expired")
    world = World(*due, later, gone)
    report = await world.sweep.run()
    events = world.uow.events(TokenExpiring)
    assert sorted(e.account_id for e in events) == sorted(a.id for a in due)  # type: ignore[attr-defined]
    assert all(e.refreshable and e.reminder_days is None for e in events)  # type: ignore[attr-defined]
    assert report.refresh == 3
    assert world.uow.commits >= 3  # one per page of two, and nothing loaded all at once


async def test_a_worker_refresh_stores_the_new_tokens_and_raises_token_refreshed() -> None:
    account = x_account(expires_in=timedelta(minutes=10))
    world = World(account)
    attempt = await world.refresher.refresh_if_due(account.id)
    assert attempt.outcome is RefreshOutcome.REFRESHED
    stored = world.stored(account)
    assert stored.credentials.refresh_token is not None
    assert stored.credentials.refresh_token.get_secret_value() == "r2"
    assert stored.token_expires_at == START + timedelta(hours=2)
    assert len(world.uow.events(TokenRefreshed)) == 1
    # Done: a second event for the same account finds it no longer due.
    again = await world.refresher.refresh_if_due(account.id)
    assert again.outcome is RefreshOutcome.NOT_DUE
    assert world.adapter.refreshes == 1


async def test_an_answer_without_a_refresh_token_keeps_the_stored_one() -> None:
    account = x_account(expires_in=timedelta(minutes=10))
    world = World(account, script=[fresh_tokens(START, refresh=None)])
    await world.refresher.refresh_if_due(account.id)
    kept = world.stored(account).credentials.refresh_token
    assert kept is not None
    assert kept.get_secret_value() == "r1"


async def test_transient_failures_cool_down_and_after_three_days_disconnect_once() -> None:
    account = x_account(expires_in=timedelta(minutes=10))
    world = World(account, script=[Classification.transient("http_503")])
    first = await world.refresher.refresh_if_due(account.id)
    assert first.outcome is RefreshOutcome.TRANSIENT
    assert world.stored(account).status == "connected"
    # Cooling down: another event right away makes no platform call.
    assert (await world.refresher.refresh_if_due(account.id)).outcome is RefreshOutcome.NOT_DUE
    assert world.adapter.refreshes == 1
    world.clock.advance(timedelta(days=1))
    await world.refresher.refresh_if_due(account.id)
    assert world.uow.events(AccountDisconnected) == []
    world.clock.advance(timedelta(days=1))
    last = await world.refresher.refresh_if_due(account.id)
    assert last.gave_up
    assert world.stored(account).status == "token_expired"
    [event] = world.uow.events(AccountDisconnected)
    assert event.reason == "refresh_failed"  # type: ignore[attr-defined]


async def test_a_revoked_refresh_is_believed_only_when_the_access_token_is_dead_too() -> None:
    alive = x_account(expires_in=timedelta(minutes=10))
    world = World(alive, script=[Classification.revoked("invalid_grant")])
    attempt = await world.refresher.refresh_if_due(alive.id)
    assert attempt.outcome is RefreshOutcome.TRANSIENT  # the access token still works
    assert world.stored(alive).status == "connected"
    dead = x_account(expires_in=timedelta(minutes=10))
    world = World(dead, script=[Classification.revoked("invalid_grant")])
    world.adapter.verify_answer = Classification.revoked("http_401")
    assert (await world.refresher.refresh_if_due(dead.id)).outcome is RefreshOutcome.REVOKED
    assert world.stored(dead).status == "token_expired"
    [event] = world.uow.events(AccountDisconnected)
    assert event.reason == "revoked"  # type: ignore[attr-defined]


async def test_a_policy_refusal_is_recorded_without_a_status_change() -> None:
    account = x_account(expires_in=timedelta(minutes=10))
    world = World(account, script=[Classification.policy("missing_scope")])
    attempt = await world.refresher.refresh_if_due(account.id)
    assert attempt.outcome is RefreshOutcome.POLICY
    stored = world.stored(account)
    assert stored.status == "connected"
    assert stored.last_failure == "policy:missing_scope"
    assert stored.refresh_failures == 0
    short = x_account(expires_in=timedelta(minutes=1))
    refusing = World(short, script=[Classification.policy("missing_scope")])
    with pytest.raises(RefreshRefusedError):
        await refusing.desk.token(short.id)


async def test_the_desk_serves_a_lasting_token_and_refreshes_one_that_would_not_last() -> None:
    lasting = x_account(expires_in=timedelta(hours=1))
    short = x_account(expires_in=timedelta(minutes=2))
    world = World(lasting, short)
    served = await world.desk.token(lasting.id)
    assert served.access_token.get_secret_value() == "a1"
    assert not served.refreshed
    assert world.adapter.refreshes == 0
    fresh = await world.desk.token(short.id)
    assert fresh.refreshed
    assert fresh.access_token.get_secret_value() != "a1"
    assert fresh.expires_at == START + timedelta(hours=2)
    assert world.adapter.refreshes == 1


async def test_the_desk_refuses_unknown_disconnected_inactive_and_unavailable_accounts() -> None:
    expired = x_account(expires_in=timedelta(hours=1), status="token_expired")
    inactive = x_account(expires_in=timedelta(hours=1), active=False)
    failing = x_account(expires_in=timedelta(minutes=2))
    world = World(expired, inactive, failing, script=[Classification.transient("http_503")])
    with pytest.raises(AccountNotFoundError):
        await world.desk.token(uuid.uuid4())
    with pytest.raises(AccountNotConnectedError):
        await world.desk.token(expired.id)
    with pytest.raises(AccountInactiveError):
        await world.desk.token(inactive.id)
    with pytest.raises(RefreshUnavailableError) as unavailable:
        await world.desk.token(failing.id)
    assert unavailable.value.retry_after == timedelta(minutes=5)
    with pytest.raises(RefreshUnavailableError):  # cooling down: no second call
        await world.desk.token(failing.id)
    assert world.adapter.refreshes == 1


async def test_linkedin_without_refresh_token_is_reminded_once_per_threshold() -> None:
    account = x_account(expires_in=timedelta(days=13), refresh=None, platform="linkedin")
    world = World(account)
    await world.sweep.run()
    await world.sweep.run()
    world.clock.advance(timedelta(days=11))
    await world.sweep.run()
    await world.sweep.run()
    reminders = [(e.refreshable, e.reminder_days) for e in world.uow.events(TokenExpiring)]  # type: ignore[attr-defined]
    assert reminders == [(False, 14), (False, 3)]
    assert world.adapter.refreshes == 0


async def test_the_retry_sweep_brings_back_only_accounts_whose_wait_is_over() -> None:
    failing = x_account(expires_in=timedelta(minutes=10))
    fine = x_account(expires_in=timedelta(minutes=10))
    world = World(failing, fine, script=[Classification.transient("http_503")])
    await world.refresher.refresh_if_due(failing.id)
    assert (await world.sweep.run(retries_only=True)).refresh == 0  # still cooling down
    world.clock.advance(timedelta(minutes=6))
    await world.sweep.run(retries_only=True)
    assert [e.account_id for e in world.uow.events(TokenExpiring)] == [failing.id]  # type: ignore[attr-defined]
