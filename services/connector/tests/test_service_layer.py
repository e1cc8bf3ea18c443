"""The connect flows on the in-memory unit of work, fake platforms and a fake billing-gate.

No PostgreSQL, Kafka, simulator or billing-gate: milliseconds. The same behaviours run against
the real ones over HTTP in test_connect_e2e.py; these show the rules on their own.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from pydantic import SecretStr

from connector.domain.accounts import APP_PASSWORD, USER_ACCESS_TOKEN
from connector.domain.errors import (
    BillingUnavailableError,
    ConnectionExpiredError,
    ConnectionNotSelectableError,
    NotFoundError,
    PlanLimitError,
    RateLimitedError,
    RedirectNotAllowedError,
    UnknownCandidateError,
    UnknownStateError,
    WrongAccountError,
)
from connector.domain.ratelimit import StartWindow
from connector.domain.redirects import DEVELOPMENT_REDIRECTS, RedirectPolicy
from connector.service_layer.accounts import AccountRegistry
from connector.service_layer.admission import Admission
from connector.service_layer.bluesky import BlueskyConnect
from connector.service_layer.connect import ConnectFlows, StartRequest
from connector.testing import FakeBilling, FakeConnectorUnitOfWork, FakePlatforms, page
from mooring.events import AccountConnected, AccountDisconnected, AccountUpdated
from mooring.platforms import RevokedError
from mooring.platforms.outcomes import Classification

REDIRECT = "http://127.0.0.1:3000/landing"


@dataclass
class World:
    uow: FakeConnectorUnitOfWork
    billing: FakeBilling
    platforms: FakePlatforms
    flows: ConnectFlows
    bluesky: BlueskyConnect
    registry: AccountRegistry
    ws: uuid.UUID

    async def start(self, platform="x", **fields):
        request = StartRequest(
            workspace_id=fields.pop("workspace_id", self.ws),
            user_id="user-1",
            platform=platform,
            redirect_url=fields.pop("redirect_url", REDIRECT),
            **fields,
        )
        return await self.flows.start(request)

    async def connect(self, platform="x", user="alice", **fields):
        started = await self.start(platform, **fields)
        landing = await self.flows.callback(platform, state=started.state, code=user, error=None)
        return started, query(landing.url)

    def accounts(self):
        return list(self.uow.accounts.rows.values())


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


@pytest.fixture
def world() -> World:
    uow = FakeConnectorUnitOfWork()
    billing = FakeBilling(uow.accounts, limit=3)
    platforms = FakePlatforms()
    window = StartWindow(limit=5, window_s=60)
    admission = Admission(uow=lambda: uow, billing=billing, retry_wait_s=0)
    flows = ConnectFlows(
        uow=lambda: uow,
        platforms=platforms,
        billing=billing,
        admission=admission,
        redirects=RedirectPolicy.of(DEVELOPMENT_REDIRECTS),
        public_url="http://connector.test",
        start_window=window,
    )
    bluesky = BlueskyConnect(
        uow=lambda: uow,
        platforms=platforms,
        billing=billing,
        admission=admission,
        start_window=window,
    )
    return World(
        uow, billing, platforms, flows, bluesky, AccountRegistry(lambda: uow), uuid.uuid4()
    )


async def test_a_start_stores_only_the_states_digest_and_seals_the_pkce_verifier(world):
    started = await world.start("x")
    assert f"state={started.state}" in started.authorization_url
    assert "redirect_uri=http://connector.test/v1/oauth/x/callback" in started.authorization_url
    (stored,) = world.uow.sessions.rows.values()
    assert stored.id == started.connection_id
    assert started.state.encode() not in world.uow.sessions.digests
    assert stored.secrets.code_verifier is not None  # X: PKCE
    assert stored.expires_at - stored.created_at == timedelta(minutes=15)
    await world.start("linkedin")
    linkedin = next(s for s in world.uow.sessions.rows.values() if s.platform == "linkedin")
    assert linkedin.secrets.code_verifier is None  # LinkedIn web apps: no PKCE


async def test_a_redirect_off_the_allow_list_stores_and_counts_nothing(world):
    with pytest.raises(RedirectNotAllowedError):
        await world.start("x", redirect_url="https://evil.example/")
    assert world.uow.sessions.rows == {}
    assert world.uow.sessions.windows == {}
    assert world.billing.calls == []


async def test_a_full_connect_creates_the_account_emits_connected_and_confirms_the_slot(world):
    _, landing = await world.connect("x", "alice")
    (account,) = world.accounts()
    assert landing == {"connected": "x", "account_id": str(account.id)}
    assert (account.platform, account.platform_account_id) == ("x", "id-alice")
    assert account.credentials.access_token.get_secret_value() == "access-x-alice"
    assert account.token_expires_at is not None
    (event,) = world.uow.events(AccountConnected)
    assert (event.account_id, event.reconnected) == (account.id, False)
    assert world.billing.calls == ["check", "reserve", "confirm"]
    assert world.billing.pending() == 0
    (session,) = world.uow.sessions.rows.values()
    assert session.status == "completed"
    assert session.secrets.empty  # nothing sealed stays behind


async def test_a_state_is_single_use_and_unknown_states_name_no_redirect(world):
    started = await world.start("x")
    await world.flows.callback("x", state=started.state, code="alice", error=None)
    again = await world.flows.callback("x", state=started.state, code="bob", error=None)
    assert query(again.url) == {"error": "state_used", "platform": "x"}
    assert len(world.accounts()) == 1
    assert world.platforms.oauth("x").exchanged == ["alice"]
    for state in ("forged-" + started.state, "", None):
        with pytest.raises(UnknownStateError):
            await world.flows.callback("x", state=state, code="alice", error=None)


async def test_an_expired_state_or_another_platforms_state_makes_nothing(world):
    started = await world.start("x")
    world.uow.sessions.now += timedelta(minutes=15, seconds=1)
    expired = await world.flows.callback("x", state=started.state, code="alice", error=None)
    assert query(expired.url)["error"] == "state_expired"
    other = await world.start("x")
    wrong = await world.flows.callback("tiktok", state=other.state, code="alice", error=None)
    assert query(wrong.url)["error"] == "wrong_platform"
    assert world.accounts() == []
    assert world.platforms.oauth("x").exchanged == []
    assert world.platforms.oauth("tiktok").exchanged == []


async def test_the_platforms_own_error_is_carried_through(world):
    started = await world.start("x")
    landing = await world.flows.callback("x", state=started.state, code=None, error="access_denied")
    assert query(landing.url) == {"error": "access_denied", "platform": "x"}
    assert world.accounts() == []
    assert world.uow.sessions.rows[started.connection_id].error == "access_denied"


async def test_a_failed_code_exchange_is_a_clear_error_and_no_account(world):
    world.platforms.oauth("x").fail_exchange = RevokedError(
        "x", Classification.revoked("invalid_request", detail="Value passed was invalid.")
    )
    _, landing = await world.connect("x", "alice")
    assert landing["error"] == "token_exchange_failed"
    assert world.accounts() == []
    assert world.billing.calls == ["check"]


async def test_at_the_cap_a_start_gets_the_gates_402_but_a_reconnect_never_does(world):
    for user in ("a", "b", "c"):
        await world.connect("x", user)
    with pytest.raises(PlanLimitError) as caught:
        await world.start("x")
    assert {k: caught.value.problem[k] for k in ("plan", "limit", "used", "upgrade_to")} == {
        "plan": "starter", "limit": 3, "used": 3, "upgrade_to": "plus",
    }  # fmt: skip
    account = world.accounts()[0]
    calls = len(world.billing.calls)
    _, landing = await world.connect("x", "a", reconnect_account_id=account.id)
    assert landing["reconnected"] == "true"
    assert world.billing.calls[calls:] == []  # a reconnect needs no slot: billing is not asked


async def test_reconnecting_the_same_identity_updates_the_row_in_place(world):
    await world.connect("x", "alice")
    (first,) = world.accounts()
    first_version = first.version
    async with world.uow:  # the account lost its token meanwhile
        stored = await world.uow.accounts.get(first.id, lock=True)
        stored.expire("token_expired")
        stored.refresh_failures = 3
        await world.uow.accounts.save(stored)
        await world.uow.commit()
    _, landing = await world.connect("x", "alice")
    (again,) = world.accounts()
    assert again.id == first.id
    assert landing == {"connected": "x", "account_id": str(first.id), "reconnected": "true"}
    assert (again.status, again.refresh_failures) == ("connected", 0)
    assert again.version > first_version
    connected = world.uow.events(AccountConnected)
    assert [e.reconnected for e in connected] == [False, True]


async def test_a_reconnect_that_signs_in_another_account_changes_nothing(world):
    await world.connect("x", "alice")
    (alice,) = world.accounts()
    before = (alice.version, alice.credentials)
    _, landing = await world.connect("x", "mallory", reconnect_account_id=alice.id)
    assert landing["error"] == "wrong_account"
    (still,) = world.accounts()
    assert (still.version, still.credentials) == before
    assert len(world.uow.events(AccountConnected)) == 1


async def test_billing_down_at_start_or_callback_makes_nothing(world):
    world.billing.down = True
    with pytest.raises(BillingUnavailableError) as caught:
        await world.start("x")
    assert caught.value.retry_after_s == 5
    assert world.uow.sessions.rows == {}
    world.billing.down = False
    started = await world.start("x")
    world.billing.down = True
    landing = await world.flows.callback("x", state=started.state, code="alice", error=None)
    assert query(landing.url)["error"] == "billing_unavailable"
    assert world.accounts() == []
    assert world.billing.calls.count("reserve") == 3  # retried with the same id, then given up


async def test_connect_starts_are_limited_per_workspace(world):
    for _ in range(5):
        await world.start("x")
    with pytest.raises(RateLimitedError) as caught:
        await world.start("x")
    assert 1 <= caught.value.retry_after_s <= 60
    await world.start("x", workspace_id=uuid.uuid4())  # another workspace has its own window
    world.uow.sessions.now += timedelta(seconds=61)
    await world.start("x")


async def facebook_selection(world, user="owner"):
    world.platforms.oauth("facebook").candidates[user] = [page("p1"), page("p2"), page("p3")]
    started, landing = await world.connect("facebook", user)
    assert landing == {"selection": str(started.connection_id), "platform": "facebook"}
    return started.connection_id


async def test_selection_lists_candidates_without_tokens_then_creates_the_chosen_ones(world):
    connection_id = await facebook_selection(world)
    view = await world.flows.connection(world.ws, connection_id)
    assert view.session.view_status == "selecting"
    assert [c.id for c in view.session.candidates] == ["p1", "p2", "p3"]
    assert "access" not in repr(view.session.candidates)
    admitted = await world.flows.select(world.ws, connection_id, ["p2", "p1"])
    assert [a.account.platform_account_id for a in admitted] == ["p2", "p1"]
    p2 = admitted[0].account
    assert p2.credentials.access_token.get_secret_value() == "access-page-p2"
    assert p2.credentials.extra[USER_ACCESS_TOKEN].get_secret_value() == "access-facebook-owner"
    assert p2.token_expires_at is None  # page tokens from a long-lived user token do not expire
    view = await world.flows.connection(world.ws, connection_id)
    assert view.session.view_status == "completed"
    assert set(view.session.account_ids) == {a.account.id for a in admitted}
    with pytest.raises(ConnectionNotSelectableError):
        await world.flows.select(world.ws, connection_id, ["p3"])


async def test_a_selection_that_does_not_fit_is_refused_whole_and_can_be_made_smaller(world):
    await world.connect("x", "a")  # 1 of 3 used: two slots left
    connection_id = await facebook_selection(world)
    with pytest.raises(PlanLimitError):
        await world.flows.select(world.ws, connection_id, ["p1", "p2", "p3"])
    assert [a.platform for a in world.accounts()] == ["x"]
    assert world.billing.pending() == 0  # the slots granted before the refusal were released
    admitted = await world.flows.select(world.ws, connection_id, ["p1", "p3"])
    assert len(admitted) == 2
    assert len(world.accounts()) == 3


async def test_selection_refuses_unknown_candidates_other_workspaces_and_expiry(world):
    connection_id = await facebook_selection(world)
    with pytest.raises(UnknownCandidateError):
        await world.flows.select(world.ws, connection_id, ["p1", "nope"])
    with pytest.raises(NotFoundError):
        await world.flows.select(uuid.uuid4(), connection_id, ["p1"])
    with pytest.raises(NotFoundError):
        await world.flows.connection(uuid.uuid4(), connection_id)
    world.uow.sessions.now += timedelta(minutes=16)
    with pytest.raises(ConnectionExpiredError):
        await world.flows.select(world.ws, connection_id, ["p1"])
    assert (await world.flows.connection(world.ws, connection_id)).session.view_status == "expired"
    assert world.accounts() == []


async def test_a_selection_platform_reconnect_updates_that_page_without_a_selection(world):
    connection_id = await facebook_selection(world)
    (admitted,) = await world.flows.select(world.ws, connection_id, ["p2"])
    _, landing = await world.connect("facebook", "owner", reconnect_account_id=admitted.account.id)
    assert landing == {
        "connected": "facebook", "account_id": str(admitted.account.id), "reconnected": "true",
    }  # fmt: skip
    world.platforms.oauth("facebook").candidates["other"] = [page("p9")]
    _, refused = await world.connect("facebook", "other", reconnect_account_id=admitted.account.id)
    assert refused["error"] == "wrong_account"


async def test_bluesky_connects_with_the_app_password_sealed_in_the_account(world):
    admitted = await world.bluesky.connect(
        world.ws, handle="ann.bsky.social", app_password=SecretStr("abcd-efgh-ijkl-mnop")
    )
    account = admitted.account
    assert (account.platform, account.platform_account_id) == ("bluesky", "did:plc:ann")
    assert account.credentials.extra[APP_PASSWORD].get_secret_value() == "abcd-efgh-ijkl-mnop"
    assert account.service_url == "https://pds.fake"
    assert admitted.created
    again = await world.bluesky.connect(
        world.ws, handle="ann.bsky.social", app_password=SecretStr("abcd-efgh-ijkl-mnop")
    )
    assert (again.account.id, again.created) == (account.id, False)


async def test_bluesky_at_the_cap_refuses_new_identities_before_logging_in(world):
    for user in ("a", "b"):
        await world.connect("x", user)
    await world.bluesky.connect(
        world.ws, handle="ann.bsky.social", app_password=SecretStr("abcd-efgh-ijkl-mnop")
    )
    logins = len(world.platforms.bluesky_fake.logins)
    with pytest.raises(PlanLimitError):
        await world.bluesky.connect(
            world.ws, handle="bob.bsky.social", app_password=SecretStr("abcd-efgh-ijkl-mnop")
        )
    assert len(world.platforms.bluesky_fake.logins) == logins
    # A known identity reconnects at the cap.
    await world.bluesky.connect(
        world.ws, handle="ann.bsky.social", app_password=SecretStr("abcd-efgh-ijkl-mnop")
    )


async def test_bluesky_reconnect_of_another_did_is_refused_before_logging_in(world):
    ann = await world.bluesky.connect(
        world.ws, handle="ann.bsky.social", app_password=SecretStr("abcd-efgh-ijkl-mnop")
    )
    with pytest.raises(WrongAccountError):
        await world.bluesky.connect(
            world.ws,
            handle="bob.bsky.social",
            app_password=SecretStr("abcd-efgh-ijkl-mnop"),
            reconnect_account_id=ann.account.id,
        )
    assert world.platforms.bluesky_fake.logins == ["ann.bsky.social"]


async def test_a_wrong_bluesky_password_releases_nothing_it_did_not_take(world):
    with pytest.raises(RevokedError):
        await world.bluesky.connect(
            world.ws, handle="ann.bsky.social", app_password=SecretStr("zzzz-zzzz-zzzz-zzzz")
        )
    assert world.accounts() == []
    assert "reserve" not in world.billing.calls


async def test_active_toggles_emit_updated_once_and_removal_deletes_with_reason_removed(world):
    await world.connect("x", "alice")
    (account,) = world.accounts()
    await world.registry.set_active(world.ws, account.id, False)
    await world.registry.set_active(world.ws, account.id, False)
    (updated,) = world.uow.events(AccountUpdated)
    assert (updated.active, updated.changed) == (False, ["active"])
    with pytest.raises(NotFoundError):
        await world.registry.get(uuid.uuid4(), account.id)
    with pytest.raises(NotFoundError):
        await world.registry.remove(uuid.uuid4(), account.id)
    await world.registry.remove(world.ws, account.id)
    assert world.accounts() == []
    (removed,) = world.uow.events(AccountDisconnected)
    assert (removed.reason, removed.status) == ("removed", None)
    with pytest.raises(NotFoundError):
        await world.registry.get(world.ws, account.id)


async def test_pages_of_accounts_continue_where_the_last_ended(world):
    for user in ("a", "b", "c"):
        await world.connect("x", user)
    first = await world.registry.page(world.ws, limit=2)
    assert len(first.accounts) == 2
    assert first.next_cursor is not None
    rest = await world.registry.page(world.ws, limit=2, after=first.next_cursor)
    assert len(rest.accounts) == 1
    assert rest.next_cursor is None
    names = [a.username for a in [*first.accounts, *rest.accounts]]
    assert sorted(names) == ["a", "b", "c"]
