"""One account's check on the in-memory unit of work and scripted adapters: the paths the
simulator cannot stage on demand (a refresh race, a change between finding and writing)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from health_checker.domain.checks import Checked
from health_checker.domain.runs import CheckRun, RunStatus
from health_checker.service_layer.check_account import AccountChecker
from health_checker.testing import FakeHealthUnitOfWork
from mooring.accounts import Account, Credentials
from mooring.events import AccountDisconnected, AccountUpdated, TokenRefreshed
from mooring.platforms.descriptions import MASTODON, X
from mooring.platforms.exceptions import error_for
from mooring.platforms.outcomes import Classification
from mooring.platforms.results import TokenSet

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DEAD = Classification.revoked("http_401", status_code=401)
DOWN = Classification.transient("http_503", status_code=503)


@dataclass
class Platform:
    """Verify answers by access token (ok unless listed); refresh answers in turn."""

    answers: dict[str, Classification] = field(default_factory=dict)
    refreshes: list[TokenSet | Classification] = field(default_factory=list)
    description: object = X
    verified: list[str] = field(default_factory=list)
    refreshed: int = 0
    on_verify: Callable[[], None] | None = None

    async def verify(self, tokens: TokenSet) -> Classification:
        token = tokens.access_token.get_secret_value()
        self.verified.append(token)
        if self.on_verify is not None:
            hook, self.on_verify = self.on_verify, None
            hook()
        return self.answers.get(token, Classification.ok())

    async def refresh(self, tokens: TokenSet) -> TokenSet:
        self.refreshed += 1
        answer = self.refreshes.pop(0)
        if isinstance(answer, Classification):
            raise error_for("x", answer)
        return answer

    async def fetch_profile(self, tokens: TokenSet):
        raise NotImplementedError

    async def list_candidates(self, tokens: TokenSet):
        return ()


def stored(status: str = "connected", auth_failures: int = 0, token: str = "a0") -> Account:  # noqa: S107
    a = Account(
        id=uuid.uuid4(),
        workspace_id=uuid.uuid4(),
        platform="x",
        platform_account_id="1",
        credentials=Credentials(access_token=SecretStr(token), refresh_token=SecretStr("r0")),
        token_expires_at=NOW + timedelta(hours=1),
        auth_failures=auth_failures,
    )
    a.status = status  # type: ignore[assignment]
    return a


def fresh(token: str = "a1") -> TokenSet:  # noqa: S107
    return TokenSet(
        access_token=SecretStr(token),
        refresh_token=SecretStr("r1"),
        issued_at=NOW,
        expires_at=NOW + timedelta(hours=2),
    )


RUN = CheckRun(
    id=uuid.uuid4(),
    status=RunStatus.RUNNING,
    started_at=NOW - timedelta(minutes=1),
    window_ends_at=NOW + timedelta(hours=1),
)


async def check(uow: FakeHealthUnitOfWork, account: Account, platform: Platform) -> Checked:
    checker = AccountChecker(uow=uow, adapters=lambda _: platform, now=lambda: NOW)  # type: ignore[arg-type,return-value]
    async with uow:
        seen = await uow.accounts.get(account.id)
    assert seen is not None
    return await checker.check(seen, RUN)


async def current(uow: FakeHealthUnitOfWork, account: Account) -> Account:
    async with uow:
        found = await uow.accounts.get(account.id)
    assert found is not None
    return found


async def test_a_healthy_account_is_not_written() -> None:
    a = stored()
    uow = FakeHealthUnitOfWork([a])
    assert await check(uow, a, Platform()) is Checked.OK
    assert uow.commits == 0
    assert (await current(uow, a)).version == 1


async def test_an_outage_changes_nothing_and_spends_no_refresh() -> None:
    a = stored("token_expired", auth_failures=1)
    uow, platform = FakeHealthUnitOfWork([a]), Platform(answers={"a0": DOWN})
    assert await check(uow, a, platform) is Checked.TRANSIENT
    assert (platform.refreshed, uow.commits) == (0, 0)


async def test_one_refresh_repairs_an_auth_failure() -> None:
    a = stored()
    uow = FakeHealthUnitOfWork([a])
    platform = Platform(answers={"a0": DEAD}, refreshes=[fresh("a1")])
    assert await check(uow, a, platform) is Checked.REPAIRED
    assert platform.verified == ["a0", "a1"]
    after = await current(uow, a)
    assert (after.status, after.credentials.access_token.get_secret_value()) == ("connected", "a1")  # type: ignore[union-attr]
    assert [type(e) for e in uow.events()] == [TokenRefreshed]


async def test_a_repaired_token_expired_account_recovers() -> None:
    a = stored("token_expired", auth_failures=1)
    uow = FakeHealthUnitOfWork([a])
    platform = Platform(answers={"a0": DEAD}, refreshes=[fresh("a1")])
    assert await check(uow, a, platform) is Checked.RECOVERED
    assert (await current(uow, a)).status == "connected"
    [refreshed, updated] = uow.events()
    assert isinstance(refreshed, TokenRefreshed)
    assert isinstance(updated, AccountUpdated)
    assert (updated.status, updated.check_run_id) == ("connected", RUN.id)


async def test_someone_refreshed_meanwhile_so_the_current_tokens_are_verified_instead() -> None:
    a = stored()
    uow = FakeHealthUnitOfWork([a])

    def token_keeper_refreshes() -> None:  # between this check's verify and its refresh
        row = uow.accounts.rows[a.id]
        row.credentials = Credentials(access_token=SecretStr("a9"), refresh_token=SecretStr("r9"))
        row.version += 1

    platform = Platform(answers={"a0": DEAD}, refreshes=[fresh("never")])
    platform.on_verify = token_keeper_refreshes
    assert await check(uow, a, platform) is Checked.OK
    assert platform.refreshed == 0  # the other refresh was enough: one refresh, not two
    assert platform.verified == ["a0", "a9"]
    assert uow.events() == []


async def test_a_refused_refresh_expires_with_one_incident_then_the_next_run_disconnects() -> None:
    a = stored()
    uow = FakeHealthUnitOfWork([a])
    platform = Platform(answers={"a0": DEAD}, refreshes=[Classification.revoked("invalid_grant")])
    assert await check(uow, a, platform) is Checked.EXPIRED
    after = await current(uow, a)
    assert (after.status, after.auth_failures) == ("token_expired", 1)
    [incident] = uow.events()
    assert isinstance(incident, AccountDisconnected)
    assert (incident.status, incident.check_run_id) == ("token_expired", RUN.id)

    # the same run again (a batch worked twice after a crash): no second strike
    platform.refreshes.append(Classification.revoked("invalid_grant"))
    assert await check(uow, a, platform) is Checked.ALREADY
    assert (await current(uow, a)).status == "token_expired"

    later = CheckRun(
        id=uuid.uuid4(), status=RunStatus.RUNNING, started_at=NOW + timedelta(days=1),
        window_ends_at=NOW + timedelta(days=2),
    )  # fmt: skip
    platform.refreshes.append(Classification.revoked("invalid_grant"))
    checker = AccountChecker(
        uow=uow, adapters=lambda _: platform, now=lambda: NOW + timedelta(days=1)
    )  # type: ignore[arg-type,return-value]
    assert await checker.check(await current(uow, a), later) is Checked.DISCONNECTED
    assert (await current(uow, a)).status == "disconnected"
    assert isinstance(uow.events()[-1], AccountUpdated)


async def test_a_platform_that_cannot_refresh_keeps_the_first_verdict() -> None:
    a = stored()
    a.platform = "mastodon"
    uow = FakeHealthUnitOfWork([a])
    platform = Platform(
        answers={"a0": DEAD},
        refreshes=[Classification.policy("refresh_unsupported")],
        description=MASTODON,
    )
    assert await check(uow, a, platform) is Checked.EXPIRED
    assert platform.verified == ["a0"]


async def test_a_refresh_outage_after_an_auth_failure_changes_nothing() -> None:
    a = stored("token_expired", auth_failures=1)
    uow = FakeHealthUnitOfWork([a])
    platform = Platform(answers={"a0": DEAD}, refreshes=[DOWN])
    assert await check(uow, a, platform) is Checked.TRANSIENT
    assert (await current(uow, a)).status == "token_expired"
    assert uow.events() == []


async def test_a_change_between_the_finding_and_the_write_leaves_the_account_alone() -> None:
    a = stored("token_expired", auth_failures=1)
    uow = FakeHealthUnitOfWork([a])

    def reconnected() -> None:  # the owner reconnects while the check verifies
        uow.accounts.rows[a.id].version += 1

    platform = Platform()
    platform.on_verify = reconnected
    assert await check(uow, a, platform) is Checked.CHANGED
    assert uow.events() == []


async def test_an_account_removed_meanwhile_is_gone() -> None:
    a = stored()
    uow = FakeHealthUnitOfWork([a])

    def removed() -> None:
        del uow.accounts.rows[a.id]

    platform = Platform(answers={"a0": DEAD})
    platform.on_verify = removed
    assert await check(uow, a, platform) is Checked.GONE
