import pytest

from mooring.settings import VaultSettings
from mooring.testing import random_vault_settings
from mooring.vault import DecryptionError, Vault


def test_round_trip_binds_the_row_and_records_the_key_id() -> None:
    vault = Vault.from_settings(random_vault_settings("k1"))
    sealed = vault.encrypt("access-token-123", aad="account:a")
    assert b"access-token-123" not in sealed
    assert vault.key_id_of(sealed) == "k1"
    assert vault.decrypt(sealed, aad="account:a") == "access-token-123"


def test_a_ciphertext_copied_to_another_row_does_not_decrypt() -> None:
    vault = Vault.from_settings(random_vault_settings())
    sealed = vault.encrypt("secret", aad="account:a")
    with pytest.raises(DecryptionError, match="moved or tampered"):
        vault.decrypt(sealed, aad="account:b")


def test_tampered_or_foreign_bytes_are_refused_with_a_clear_error() -> None:
    vault = Vault.from_settings(random_vault_settings())
    sealed = bytearray(vault.encrypt("secret", aad="x"))
    sealed[-1] ^= 1
    with pytest.raises(DecryptionError):
        vault.decrypt(bytes(sealed), aad="x")
    with pytest.raises(DecryptionError, match="not a vault ciphertext"):
        vault.decrypt(b"plain json", aad="x")


def test_rotation_decrypts_with_retired_keys_and_encrypts_with_the_current_one() -> None:
    old = random_vault_settings("k1")
    sealed_old = Vault.from_settings(old).encrypt("secret", aad="r")
    new_key = random_vault_settings("k2").keys.get_secret_value()
    both = VaultSettings(keys=f"{new_key},{old.keys.get_secret_value()}", current_key_id="k2")
    vault = Vault.from_settings(both)
    assert vault.decrypt(sealed_old, aad="r") == "secret"
    assert vault.needs_rotation(sealed_old)
    moved = vault.reencrypt(sealed_old, aad="r")
    assert vault.key_id_of(moved) == "k2"
    assert not vault.needs_rotation(moved)
    retired_removed = Vault.from_settings(VaultSettings(keys=new_key))
    assert retired_removed.decrypt(moved, aad="r") == "secret"
    with pytest.raises(DecryptionError, match="unknown key 'k1'"):
        retired_removed.decrypt(sealed_old, aad="r")


def test_keys_never_appear_in_reprs() -> None:
    settings = random_vault_settings()
    vault = Vault.from_settings(settings)
    raw = settings.keys.get_secret_value().split(":", 1)[1]
    assert raw not in repr(settings)
    assert raw not in repr(vault)
    assert "keys" not in repr(vault)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ("", "empty"),
        ("nocolon", "look like"),
        ("k1:***", "not valid base64"),
        ("k1:AAAA", "must be 32 bytes"),
    ],
)
def test_bad_keyrings_say_what_is_wrong(keys: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VaultSettings(keys=keys).keyring()
