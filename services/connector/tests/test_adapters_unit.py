"""The connector's small adapters, without infrastructure."""

import pytest

from connector.adapters.platforms import DeferredCipher, PlatformDirectory
from connector.config import Settings
from mooring.platforms import InMemoryMastodonAppStore, PlatformSettings
from mooring.testing import make_vault


def test_the_app_stores_cipher_is_the_vault_once_there_is_one():
    vault = None
    cipher = DeferredCipher(lambda: vault)
    with pytest.raises(RuntimeError, match="MOORING_VAULT_KEYS"):
        cipher.encrypt("secret", aad="platform_app:mastodon:x")
    vault = make_vault()
    sealed = cipher.encrypt("secret", aad="platform_app:mastodon:x")
    assert b"secret" not in sealed
    assert cipher.decrypt(sealed, aad="platform_app:mastodon:x") == "secret"


async def test_the_platform_client_exists_only_between_start_and_stop():
    directory = PlatformDirectory(PlatformSettings(), mastodon_apps=InMemoryMastodonAppStore())
    with pytest.raises(RuntimeError, match="not open"):
        directory.oauth("x")
    await directory.open()
    try:
        adapter = directory.oauth("x")
        assert directory.oauth("x") is adapter  # built once
        assert directory.bluesky() is directory.bluesky()
        with pytest.raises(Exception, match="app passwords"):
            directory.oauth("bluesky")
    finally:
        await directory.close()
    with pytest.raises(RuntimeError):
        directory.bluesky()


def test_settings_refuse_a_bad_allow_list_entry_and_a_relative_public_url():
    assert Settings(
        redirect_allowlist="https://a.example,https://b.example/x"
    ).redirect_allowlist == [
        "https://a.example",
        "https://b.example/x",
    ]
    assert (
        Settings(redirect_allowlist='["http://127.0.0.1:*"]')
        .redirect_policy()
        .check("http://127.0.0.1:1/")
    )
    with pytest.raises(ValueError, match="origin"):
        Settings(redirect_allowlist="ftp://files.example")
    with pytest.raises(ValueError, match="public_url"):
        Settings(public_url="connector.example")
    assert Settings(public_url="https://connector.example/").public_url == (
        "https://connector.example"
    )
