"""A connect session: one OAuth round trip, from start to callback to (maybe) a selection.

The state the platform hands back is 256 random bits; only its SHA-256 digest is stored, so
reading the table does not give anyone a callback they could complete. It is bound to the
workspace, the user, the platform and the redirect URL, lives 15 minutes by the database's clock,
and is single-use: the callback consumes it before anything else happens.

Secrets (the PKCE verifier, the user's tokens, each pending candidate's tokens) live in
`SessionSecrets`, sealed by the repository; the candidates themselves (names, ids) are plain.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from pydantic import SecretStr

from connector.domain.errors import (
    StateExpiredError,
    StateReplayedError,
    UnknownStateError,
    WrongPlatformError,
)
from mooring.platforms.results import Candidate, TokenSet

__all__ = [
    "ConnectSession",
    "NewSession",
    "PendingCandidate",
    "SessionSecrets",
    "SessionStatus",
    "StateLookup",
    "ViewStatus",
    "judge_callback",
    "new_state",
    "state_digest",
]

SessionStatus = Literal["pending", "selecting", "completing", "completed", "failed"]
# What a reader sees: `completing` is a selection being written (still "selecting" to them),
# and any unfinished session past its expiry is `expired`.
ViewStatus = Literal["pending", "selecting", "completed", "failed", "expired"]
_STATE_BYTES = 32


def new_state() -> str:
    """256 random bits, URL-safe: unguessable, so it needs no signature."""
    return secrets.token_urlsafe(_STATE_BYTES)


def state_digest(state: str) -> bytes:
    return hashlib.sha256(state.encode()).digest()


@dataclass(frozen=True)
class PendingCandidate:
    """A page, organisation, Instagram account or channel the user may pick; never a token."""

    id: str
    account_type: str
    name: str | None = None
    username: str | None = None
    avatar_url: str | None = None
    parent_id: str | None = None

    @classmethod
    def of(cls, candidate: Candidate) -> PendingCandidate:
        return cls(
            id=candidate.id,
            account_type=candidate.account_type.value,
            name=candidate.name,
            username=candidate.username,
            avatar_url=candidate.avatar_url,
            parent_id=candidate.parent_id,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_type": self.account_type,
            "name": self.name,
            "username": self.username,
            "avatar_url": self.avatar_url,
            "parent_id": self.parent_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingCandidate:
        return cls(**{k: data.get(k) for k in ("name", "username", "avatar_url", "parent_id")},
                   id=str(data["id"]), account_type=str(data["account_type"]))  # fmt: skip


def _tokens_json(tokens: TokenSet) -> dict[str, Any]:
    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "access_token": tokens.access_token.get_secret_value(),
        "refresh_token": tokens.refresh_token.get_secret_value() if tokens.refresh_token else None,
        "issued_at": tokens.issued_at.isoformat(),
        "expires_at": when(tokens.expires_at),
        "refresh_expires_at": when(tokens.refresh_expires_at),
        "scopes": list(tokens.scopes),
        "service_url": tokens.service_url,
    }


def _tokens_of(data: dict[str, Any]) -> TokenSet:
    def when(value: Any) -> datetime | None:
        return datetime.fromisoformat(value) if isinstance(value, str) else None

    refresh = data.get("refresh_token")
    return TokenSet(
        access_token=SecretStr(str(data["access_token"])),
        refresh_token=SecretStr(refresh) if isinstance(refresh, str) else None,
        issued_at=datetime.fromisoformat(str(data["issued_at"])),
        expires_at=when(data.get("expires_at")),
        refresh_expires_at=when(data.get("refresh_expires_at")),
        scopes=tuple(str(s) for s in data.get("scopes") or ()),
        service_url=data.get("service_url"),
    )


@dataclass(frozen=True)
class SessionSecrets:
    """Everything a session holds that must be sealed. `repr` shows no value."""

    code_verifier: SecretStr | None = None
    user_tokens: TokenSet | None = field(default=None, repr=False)
    candidate_tokens: dict[str, TokenSet] = field(default_factory=dict, repr=False)

    @property
    def empty(self) -> bool:
        return self.code_verifier is None and self.user_tokens is None and not self.candidate_tokens

    def to_plaintext(self) -> str:
        return json.dumps(
            {
                "code_verifier": (
                    self.code_verifier.get_secret_value() if self.code_verifier else None
                ),
                "user_tokens": _tokens_json(self.user_tokens) if self.user_tokens else None,
                "candidate_tokens": {k: _tokens_json(v) for k, v in self.candidate_tokens.items()},
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_plaintext(cls, plaintext: str) -> SessionSecrets:
        data = json.loads(plaintext)
        verifier = data.get("code_verifier")
        user = data.get("user_tokens")
        return cls(
            code_verifier=SecretStr(verifier) if isinstance(verifier, str) else None,
            user_tokens=_tokens_of(user) if isinstance(user, dict) else None,
            candidate_tokens={
                str(k): _tokens_of(v) for k, v in (data.get("candidate_tokens") or {}).items()
            },
        )


@dataclass(frozen=True)
class NewSession:
    """What a connect start records; the store adds the times (its own clock)."""

    id: uuid.UUID
    state_digest: bytes = field(repr=False)
    workspace_id: uuid.UUID
    user_id: str
    platform: str
    redirect_url: str
    reconnect_account_id: uuid.UUID | None = None
    service_url: str | None = None
    secrets: SessionSecrets = field(default_factory=SessionSecrets)


@dataclass(frozen=True)
class ConnectSession:
    id: uuid.UUID
    workspace_id: uuid.UUID
    user_id: str
    platform: str
    redirect_url: str
    status: SessionStatus
    created_at: datetime
    expires_at: datetime
    # The store's clock when the row was read: every replica judges expiry by the same clock.
    read_at: datetime
    reconnect_account_id: uuid.UUID | None = None
    service_url: str | None = None
    consumed_at: datetime | None = None
    candidates: tuple[PendingCandidate, ...] = ()
    account_ids: tuple[uuid.UUID, ...] = ()
    error: str | None = None
    secrets: SessionSecrets = field(default_factory=SessionSecrets, repr=False)

    @property
    def expired(self) -> bool:
        return self.expires_at <= self.read_at

    @property
    def view_status(self) -> ViewStatus:
        if self.status in ("completed", "failed"):
            return self.status
        if self.expired:
            return "expired"
        return "selecting" if self.status == "completing" else self.status

    def selecting(
        self, candidates: tuple[PendingCandidate, ...], secrets: SessionSecrets
    ) -> ConnectSession:
        """The callback found candidates: the user picks among them (their tokens sealed)."""
        return replace(self, status="selecting", candidates=candidates, secrets=secrets)

    def completed(self, account_ids: tuple[uuid.UUID, ...]) -> ConnectSession:
        """Done: the secrets go (the accounts hold what they need), the candidates with them."""
        return replace(
            self,
            status="completed",
            account_ids=account_ids,
            candidates=(),
            secrets=SessionSecrets(),
            error=None,
        )

    def failed(self, code: str) -> ConnectSession:
        return replace(self, status="failed", error=code, candidates=(), secrets=SessionSecrets())


@dataclass(frozen=True)
class StateLookup:
    """The callback's view of a state: the session it names, and whether this call consumed it
    (False: consumed before, a replay)."""

    session: ConnectSession | None
    consumed_now: bool


def judge_callback(lookup: StateLookup, platform: str) -> ConnectSession:
    """The session this callback may complete, or the reason it may not.

    Order matters: an unknown state says nothing about where to send the user; a replay must
    not touch the session (its first use may still be running); expiry and platform come next.
    """
    session = lookup.session
    if session is None:
        raise UnknownStateError
    if not lookup.consumed_now:
        raise StateReplayedError
    if session.expired:
        raise StateExpiredError
    if session.platform != platform:
        raise WrongPlatformError(session.platform, platform)
    return session
