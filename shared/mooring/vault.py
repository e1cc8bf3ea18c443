"""The token vault: AES-256-GCM with a keyring and the owning row's id as associated data.

Ciphertext layout (bytes): ``b"M1" | len(key_id) | key_id | nonce(12) | ciphertext+tag``. The key id
travels with every ciphertext so rotation needs no side table, and binding the row id as associated
data means a ciphertext copied to another row fails to decrypt instead of leaking a token there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mooring.settings import VaultSettings

__all__ = ["DecryptionError", "Vault", "account_aad", "platform_app_aad"]

_MAGIC = b"M1"
_NONCE_BYTES = 12


def account_aad(account_id: object) -> str:
    """Associated data binding a sealed secret to its account row."""
    return f"account:{account_id}"


def platform_app_aad(platform: str, instance: str) -> str:
    """Associated data binding a sealed client secret to its platform app row."""
    return f"platform_app:{platform}:{instance}"


class DecryptionError(Exception):
    """A ciphertext could not be opened: unknown key, wrong row, or tampered bytes."""


@dataclass(frozen=True)
class Vault:
    keys: dict[str, bytes] = field(repr=False)
    current_key_id: str

    @classmethod
    def from_settings(cls, settings: VaultSettings) -> Vault:
        return cls(keys=settings.keyring(), current_key_id=settings.current())

    def __post_init__(self) -> None:
        if self.current_key_id not in self.keys:
            raise ValueError(f"current key {self.current_key_id!r} is not in the keyring")

    def encrypt(self, plaintext: str, *, aad: str) -> bytes:
        key_id = self.current_key_id.encode()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current_key_id]).encrypt(
            nonce, plaintext.encode(), aad.encode()
        )
        return _MAGIC + bytes([len(key_id)]) + key_id + nonce + sealed

    def decrypt(self, ciphertext: bytes, *, aad: str) -> str:
        key_id, nonce, sealed = self._split(ciphertext)
        key = self.keys.get(key_id)
        if key is None:
            raise DecryptionError(f"ciphertext was sealed with unknown key {key_id!r}")
        try:
            return AESGCM(key).decrypt(nonce, sealed, aad.encode()).decode()
        except InvalidTag:
            raise DecryptionError(
                "ciphertext does not open with its key for this row (moved or tampered)"
            ) from None

    def key_id_of(self, ciphertext: bytes) -> str:
        return self._split(ciphertext)[0]

    def needs_rotation(self, ciphertext: bytes) -> bool:
        return self.key_id_of(ciphertext) != self.current_key_id

    def reencrypt(self, ciphertext: bytes, *, aad: str) -> bytes:
        return self.encrypt(self.decrypt(ciphertext, aad=aad), aad=aad)

    @staticmethod
    def _split(ciphertext: bytes) -> tuple[str, bytes, bytes]:
        if len(ciphertext) < len(_MAGIC) + 1 or not ciphertext.startswith(_MAGIC):
            raise DecryptionError("not a vault ciphertext")
        length = ciphertext[len(_MAGIC)]
        start = len(_MAGIC) + 1
        key_id = ciphertext[start : start + length].decode(errors="replace")
        nonce = ciphertext[start + length : start + length + _NONCE_BYTES]
        sealed = ciphertext[start + length + _NONCE_BYTES :]
        if len(nonce) != _NONCE_BYTES or not sealed:
            raise DecryptionError("truncated vault ciphertext")
        return key_id, nonce, sealed
