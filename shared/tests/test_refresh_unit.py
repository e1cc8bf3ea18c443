"""refresh_account's decisions on the in-memory unit of work and a scripted adapter."""

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import SecretStr

from mooring.accounts import Account, Credentials
from mooring.accounts.refresh import RefreshOutcome, refresh_account
from mooring.events import AccountDisconnected, TokenRefreshed, utcnow
from mooring.platforms.descriptions import X
from mooring.platforms.exceptions import error_for
from mooring.platforms.outcomes import Classification
from mooring.platforms.results import TokenSet
from mooring.uow import FakeUnitOfWork


@dataclass
class ScriptedAdapter:
    """Answers refresh with `refresh` (a TokenSet or a Classification) and verify with `verify`."""

    refresh_answer: TokenSet | Classification
    verify_answer: Classification = field(default_factory=Classification.ok)
    refreshes: int = 0

    @property
    def description(self):
        return X

    async def refresh(self, tokens: TokenSet) -> TokenSet:
        self.refreshes += 1
        if isinstance(self.refresh_answer, Classification):
            raise error_for("x", self.refresh_answer)
        return self.refresh_answer

    async def verify(self, tokens: TokenSet) -> Classification:
        return self.verify_answer

    async def fetch_profile(self, tokens):
        raise NotImplementedError

    async def list_candidates(self, tokens):
        return ()


def account() -> Account:
    a = Account.connect(
        workspace_id=uuid.uuid4(), platform="x", platform_account_id="1",
        credentials=Credentials(access_token=SecretStr("a0"), refresh_token=SecretStr("r0")),
    )  # fmt: skip
    a.token_expires_at = utcnow() + timedelta(minutes=5)
    a.events.clear()
    return a


def fresh_tokens() -> TokenSet:
    now = utcnow()
    return TokenSet(
        access_token=SecretStr("a1"), refresh_token=SecretStr("r1"), issued_at=now,
        expires_at=now + timedelta(hours=2),
    )  # fmt: skip


def due(a: Account) -> bool:
    return a.token_expires_at is not None and a.token_expires_at < utcnow() + timedelta(minutes=30)


async def run(uow: FakeUnitOfWork, a: Account, adapter: ScriptedAdapter):
    async with uow:
        return await refresh_account(uow, a.id, lambda _: adapter, still_due=due)


async def test_new_tokens_are_committed_and_a_second_caller_finds_nothing_to_do() -> None:
    a = account()
    uow, adapter = FakeUnitOfWork([a]), ScriptedAdapter(fresh_tokens())
    first = await run(uow, a, adapter)
    second = await run(uow, a, adapter)
    assert (first.outcome, second.outcome) == (RefreshOutcome.REFRESHED, RefreshOutcome.NOT_DUE)
    assert adapter.refreshes == 1
    stored = uow.accounts.rows[a.id]
    assert stored.credentials.refresh_token == SecretStr("r1")
    assert [type(e) for e in uow.events()] == [TokenRefreshed]


async def test_a_refused_refresh_with_a_working_access_token_is_not_a_revocation() -> None:
    a = account()
    adapter = ScriptedAdapter(Classification.revoked("invalid_grant"), Classification.ok())
    uow = FakeUnitOfWork([a])
    result = await run(uow, a, adapter)
    assert result.outcome is RefreshOutcome.TRANSIENT
    assert uow.accounts.rows[a.id].status == "connected"
    assert uow.events() == []


async def test_a_refused_refresh_and_a_dead_access_token_expire_the_account_once() -> None:
    a = account()
    dead = Classification.revoked("http_401")
    adapter = ScriptedAdapter(Classification.revoked("invalid_grant"), dead)
    uow = FakeUnitOfWork([a])
    result = await run(uow, a, adapter)
    assert result.outcome is RefreshOutcome.REVOKED
    stored = uow.accounts.rows[a.id]
    assert (stored.status, stored.last_failure) == ("token_expired", "revoked:invalid_grant")
    (event,) = uow.events()
    assert isinstance(event, AccountDisconnected)
    assert event.reason == "revoked"
    again = await run(uow, a, adapter)
    assert again.outcome is RefreshOutcome.SKIPPED  # token_expired is not refreshed by default
    assert len(uow.events()) == 1


async def test_transient_and_policy_change_nothing() -> None:
    for verdict, outcome in (
        (Classification.transient("http_503", retry_after=timedelta(seconds=9)), "transient"),
        (Classification.policy("missing_scope"), "policy"),
    ):
        a = account()
        uow = FakeUnitOfWork([a])
        result = await run(uow, a, ScriptedAdapter(verdict))
        assert result.outcome == outcome
        assert result.classification == verdict
        assert uow.accounts.rows[a.id].status == "connected"
        assert uow.committed == []
