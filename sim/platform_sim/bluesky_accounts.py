"""Bluesky accounts on the simulated PDS: handle, DID, app password, createSession budget."""

import re
from collections import deque
from dataclasses import dataclass, field

from platform_sim.users import stable_alnum

__all__ = ["APP_PASSWORD_RE", "BlueskyAccount", "BlueskyDirectory", "did_for"]

APP_PASSWORD_RE = re.compile(r"^[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}$")


def did_for(handle: str) -> str:
    # did:plc identifiers are 24 base32 characters.
    return "did:plc:" + stable_alnum(
        "bsky:" + handle.lower(), 24, "abcdefghijklmnopqrstuvwxyz234567"
    )


@dataclass(slots=True)
class BlueskyAccount:
    handle: str
    did: str
    app_password: str | None = None
    status: str | None = None
    session_attempts: deque[float] = field(default_factory=deque)

    @property
    def active(self) -> bool:
        return self.status is None


class BlueskyDirectory:
    def __init__(self) -> None:
        self.by_handle: dict[str, BlueskyAccount] = {}
        self.by_did: dict[str, BlueskyAccount] = {}

    def add(self, handle: str) -> BlueskyAccount:
        handle = handle.lower().lstrip("@")
        account = self.by_handle.get(handle)
        if account is None:
            account = BlueskyAccount(handle=handle, did=did_for(handle))
            self.by_handle[handle] = account
            self.by_did[account.did] = account
        return account

    def find(self, identifier: str) -> BlueskyAccount | None:
        identifier = identifier.lower().lstrip("@")
        return self.by_did.get(identifier) or self.by_handle.get(identifier)
