"""The connector's pure rules: redirect allow-list, states, the start window, candidates."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from connector.domain.accounts import platform_account_id
from connector.domain.candidates import choose
from connector.domain.errors import (
    PlatformDeclinedError,
    RedirectNotAllowedError,
    StateExpiredError,
    StateReplayedError,
    UnknownCandidateError,
    UnknownStateError,
    WrongPlatformError,
)
from connector.domain.platforms import catalogue
from connector.domain.ratelimit import StartWindow
from connector.domain.redirects import DEVELOPMENT_REDIRECTS, RedirectPolicy, landing_url
from connector.domain.sessions import (
    ConnectSession,
    PendingCandidate,
    SessionSecrets,
    StateLookup,
    judge_callback,
    new_state,
    state_digest,
)
from mooring.platforms.results import TokenSet

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:3000/connected",
        "http://127.0.0.1/x?keep=1",
        "http://localhost:5173/",
        "http://LOCALHOST:1/a/b",
        "http://[::1]:8080/",
    ],
)
def test_development_settings_admit_any_loopback_url(url):
    assert RedirectPolicy.of(DEVELOPMENT_REDIRECTS).check(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:3000/",  # https is not in the development list
        "http://127.0.0.2:3000/",
        "http://127.0.0.1.evil.example/",
        "http://evil.example/?next=http://127.0.0.1/",
        "http://user:pw@127.0.0.1/",
        "http://127.0.0.1:3000/#frag",
        "javascript:alert(1)",
        "//127.0.0.1/",
        "/relative",
        "http://127.0.0.1:99999/",
        "http:\\\\127.0.0.1\\x",
    ],
)
def test_anything_else_is_refused(url):
    with pytest.raises(RedirectNotAllowedError):
        RedirectPolicy.of(DEVELOPMENT_REDIRECTS).check(url)


def test_production_entries_are_exact_origins_with_optional_path_prefixes():
    policy = RedirectPolicy.of(["https://app.example.com/settings/accounts"])
    assert policy.check("https://app.example.com/settings/accounts")
    assert policy.check("https://app.example.com:443/settings/accounts/done?x=1")
    for refused in (
        "https://app.example.com/settings/accountsX",
        "https://app.example.com/",
        "http://app.example.com/settings/accounts",
        "https://app.example.com:8443/settings/accounts",
        "https://evil.app.example.com/settings/accounts",
    ):
        with pytest.raises(RedirectNotAllowedError):
            policy.check(refused)
    with pytest.raises(ValueError, match="origin"):
        RedirectPolicy.of(["ftp://x"])


def test_landing_url_keeps_the_redirects_own_query():
    assert landing_url(
        "http://127.0.0.1:3000/done?tab=2", {"connected": "x", "account_id": "1"}
    ) == ("http://127.0.0.1:3000/done?tab=2&connected=x&account_id=1")
    assert landing_url("http://h/p", {"error": "a b"}) == "http://h/p?error=a+b"


def session(**changes) -> ConnectSession:
    values = {
        "id": uuid.uuid4(),
        "workspace_id": uuid.uuid4(),
        "user_id": "u1",
        "platform": "x",
        "redirect_url": "http://127.0.0.1/cb",
        "status": "pending",
        "created_at": NOW,
        "expires_at": NOW + timedelta(minutes=15),
        "read_at": NOW,
    } | changes
    return ConnectSession(**values)


def test_a_callback_is_judged_unknown_replayed_expired_or_for_another_platform_in_that_order():
    with pytest.raises(UnknownStateError):
        judge_callback(StateLookup(None, consumed_now=False), "x")
    expired = session(read_at=NOW + timedelta(minutes=16))
    with pytest.raises(StateReplayedError):
        judge_callback(StateLookup(expired, consumed_now=False), "x")
    with pytest.raises(StateExpiredError):
        judge_callback(StateLookup(expired, consumed_now=True), "x")
    with pytest.raises(WrongPlatformError):
        judge_callback(StateLookup(session(), consumed_now=True), "tiktok")
    fresh = session()
    assert judge_callback(StateLookup(fresh, consumed_now=True), "x") is fresh


def test_states_are_random_and_stored_only_as_digests():
    states = {new_state() for _ in range(100)}
    assert len(states) == 100
    assert all(len(s) >= 43 for s in states)  # 256 bits, base64url
    state = next(iter(states))
    assert state_digest(state) == state_digest(state)
    assert state.encode() not in state_digest(state)


def test_view_status_expires_unfinished_sessions_only():
    late = NOW + timedelta(hours=1)
    assert session(read_at=late).view_status == "expired"
    assert session(status="completing").view_status == "selecting"
    assert session(status="completed", read_at=late).view_status == "completed"
    assert session(status="failed", read_at=late).view_status == "failed"


def test_session_secrets_round_trip_and_never_show_in_a_repr():
    tokens = TokenSet(
        access_token=SecretStr("acc-SECRET"),
        refresh_token=SecretStr("ref-SECRET"),
        issued_at=NOW,
        expires_at=NOW + timedelta(hours=1),
        scopes=("a", "b"),
        service_url="https://pds",
    )
    secrets = SessionSecrets(
        code_verifier=SecretStr("ver-SECRET"), user_tokens=tokens, candidate_tokens={"p1": tokens}
    )
    back = SessionSecrets.from_plaintext(secrets.to_plaintext())
    assert back == secrets
    assert "SECRET" not in repr(secrets)
    assert "SECRET" not in repr(session(secrets=secrets))
    assert SessionSecrets().empty


def test_the_start_window_counts_and_says_when_to_come_back():
    window = StartWindow(limit=3, window_s=60)
    assert window.retry_after(3, NOW, NOW + timedelta(seconds=10)) is None
    assert window.retry_after(4, NOW, NOW + timedelta(seconds=10)) == 50
    assert window.retry_after(4, NOW, NOW + timedelta(seconds=59.5)) == 1


def test_choose_keeps_order_drops_repeats_and_refuses_unknown_ids():
    offered = [PendingCandidate("1", "page"), PendingCandidate("2", "page")]
    assert [c.id for c in choose(offered, ["2", "1", "2"])] == ["2", "1"]
    with pytest.raises(UnknownCandidateError) as caught:
        choose(offered, ["1", "3"])
    assert caught.value.candidate_ids == ["3"]


def test_mastodon_ids_carry_their_instance_and_others_are_kept_as_they_are():
    assert platform_account_id("mastodon", "42", "https://mastodon.social") == (
        "42@mastodon.social"
    )
    assert platform_account_id("mastodon", "42", "http://127.0.0.1:8990/mastodon/a.b") == (
        "42@127.0.0.1:8990/mastodon/a.b"
    )
    assert platform_account_id("x", "42", None) == "42"


def test_a_platform_error_code_is_carried_only_when_it_is_a_known_one():
    assert PlatformDeclinedError("access_denied").code == "access_denied"
    assert PlatformDeclinedError("<script>").code == "platform_error"
    assert PlatformDeclinedError("x" * 200).code == "platform_error"
    assert PlatformDeclinedError("made_up_error").code == "platform_error"
    assert PlatformDeclinedError("USER_CANCELLED_LOGIN").code == "user_cancelled_login"


def test_the_catalogue_has_the_twelve_platforms_with_their_connect_facts():
    by_id = {p.id: p for p in catalogue()}
    assert list(by_id) == [
        "linkedin", "linkedin-page", "x", "facebook", "instagram", "instagram-facebook",
        "tiktok", "youtube", "threads", "pinterest", "bluesky", "mastodon",
    ]  # fmt: skip
    assert by_id["bluesky"].auth_method == "app_password"
    assert by_id["mastodon"].auth_method == "instance_oauth2"
    assert by_id["x"].auth_method == "oauth2"
    assert {p for p, info in by_id.items() if info.selection} == {
        "linkedin-page", "facebook", "instagram-facebook", "youtube",
    }  # fmt: skip
    assert by_id["x"].refresh_model == "rotating"
    assert by_id["instagram"].refresh_model == "extend_in_place"
