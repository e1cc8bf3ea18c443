"""The account aggregate raises the events that report its state changes, and only those."""

import uuid

from pydantic import SecretStr

from mooring.accounts import Account, Credentials
from mooring.events import (
    AccountConnected,
    AccountDisconnected,
    AccountUpdated,
    TokenRefreshed,
    utcnow,
)


def new_account() -> Account:
    return Account.connect(
        workspace_id=uuid.uuid4(),
        platform="x",
        platform_account_id="42",
        credentials=Credentials(access_token=SecretStr("secret-access")),
        username="ada",
    )


def test_connect_raises_account_connected_without_any_secret() -> None:
    account = new_account()
    (event,) = account.events
    assert isinstance(event, AccountConnected)
    assert (event.account_id, event.reconnected, event.username) == (account.id, False, "ada")
    assert "secret-access" not in event.model_dump_json()


def test_reconnect_keeps_the_row_and_clears_failures() -> None:
    account = new_account()
    account.events.clear()
    account.status, account.auth_failures, account.active = "disconnected", 2, False
    account.reconnect(Credentials(access_token=SecretStr("new")), display_name="Ada L.")
    (event,) = account.events
    assert isinstance(event, AccountConnected)
    assert event.reconnected
    assert (account.status, account.auth_failures, account.active) == ("connected", 0, False)
    assert account.display_name == "Ada L."


def test_only_leaving_connected_raises_account_disconnected() -> None:
    account = new_account()
    account.events.clear()
    run = uuid.uuid4()
    assert account.expire("token_expired", check_run_id=run)
    assert account.disconnect("token_expired", check_run_id=run)
    assert not account.disconnect("token_expired")  # no change, no event
    first, second = account.events
    assert isinstance(first, AccountDisconnected)
    assert (first.reason, first.status, first.check_run_id) == (
        "token_expired",
        "token_expired",
        run,
    )
    assert isinstance(second, AccountUpdated)
    assert (second.changed, second.status) == (["status"], "disconnected")


def test_recovery_says_the_status_changed_and_a_toggle_says_active_changed() -> None:
    account = new_account()
    account.expire("revoked")
    account.events.clear()
    assert account.recover()
    assert not account.recover()
    assert account.set_active(False)
    assert not account.set_active(False)
    recovered, toggled = account.events
    assert isinstance(recovered, AccountUpdated)
    assert (recovered.changed, recovered.status) == (["status"], "connected")
    assert isinstance(toggled, AccountUpdated)
    assert (toggled.changed, toggled.active) == (["active"], False)


def test_a_refresh_and_a_removal_report_themselves() -> None:
    account = new_account()
    account.events.clear()
    account.tokens_refreshed(
        Credentials(access_token=SecretStr("rotated")), expires_at=None, issued_at=utcnow()
    )
    account.remove()
    refreshed, removed = account.events
    assert isinstance(refreshed, TokenRefreshed)
    assert isinstance(removed, AccountDisconnected)
    assert (removed.reason, removed.status) == ("removed", None)


def test_stored_tokens_never_blank_a_refresh_token_and_end_a_failure_streak() -> None:
    from datetime import timedelta

    from mooring.accounts.tokens import token_set_of
    from mooring.platforms.results import TokenSet

    account = new_account()
    account.credentials = Credentials(
        access_token=SecretStr("old-access"), refresh_token=SecretStr("kept-refresh")
    )
    account.refresh_failures, account.last_failure = 2, "transient:http_503"
    account.events.clear()
    issued = utcnow()
    account.store_tokens(
        TokenSet(
            access_token=SecretStr("new-access"),
            issued_at=issued,
            expires_at=issued + timedelta(hours=1),
        )
    )
    assert account.credentials.refresh_token == SecretStr("kept-refresh")
    assert account.credentials.access_token == SecretStr("new-access")
    assert (account.refresh_failures, account.last_failure) == (0, None)
    assert account.token_expires_at == issued + timedelta(hours=1)
    (event,) = account.events
    assert isinstance(event, TokenRefreshed)
    back = token_set_of(account)
    assert back.refresh_token == SecretStr("kept-refresh")
    assert back.expires_at == account.token_expires_at
