"""Bluesky accounts on the simulated PDS: handle, DID, passwords, createSession budget.

An account has at most one app password and optionally a main password. A real PDS accepts
both at `createSession`; the main one opens a full-privilege session (access scope
`com.atproto.access` instead of `com.atproto.appPass`), whatever it looks like, so a client that
checks only the shape of what the user typed is fooled. `appview=False` stands for a PDS with no
AppView behind it: `app.bsky.*` reads fail there.
"""

import re
from collections import deque
from dataclasses import dataclass, field

from platform_sim.users import stable_alnum

__all__ = [
    "APP_PASSWORD_RE",
    "APP_PASSWORD_SCOPE",
    "FULL_ACCESS_SCOPE",
    "BlueskyAccount",
    "BlueskyDirectory",
    "did_for",
]

APP_PASSWORD_RE = re.compile(r"^[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}$")
APP_PASSWORD_SCOPE = "com.atproto.appPass"  # noqa: S105 - a scope name
FULL_ACCESS_SCOPE = "com.atproto.access"


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
    main_password: str | None = None
    status: str | None = None
    appview: bool = True
    session_attempts: deque[float] = field(default_factory=deque)

    @property
    def active(self) -> bool:
        return self.status is None

    def session_scope(self, password: str) -> str | None:
        """The access scope `password` opens a session with, or None when it is wrong."""
        if self.main_password is not None and password == self.main_password:
            return FULL_ACCESS_SCOPE
        if self.app_password is not None and password == self.app_password:
            return APP_PASSWORD_SCOPE
        return None


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
