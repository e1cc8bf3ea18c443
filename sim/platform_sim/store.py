"""Grants, tokens and authorization codes, all in memory and all on the simulated clock.

A grant is one user's consent to one client on one provider; access and refresh tokens hang off
it, so revoking the grant (de-authorising the app) kills every token it produced at once.
"""

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from platform_sim.clock import SimClock

__all__ = [
    "AuthCode",
    "CodeStatus",
    "Grant",
    "Lookup",
    "Token",
    "TokenKind",
    "TokenStatus",
    "TokenStore",
]


class TokenKind(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


class TokenStatus(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"


class CodeStatus(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"


@dataclass(slots=True)
class Grant:
    id: str
    provider: str
    user: str
    client_id: str
    scopes: tuple[str, ...]
    created_at: float
    revoked: bool = False
    # LinkedIn's refresh token lives 365 days from the *first* consent, whatever refreshes happen.
    refresh_expires_at: float | None = None


@dataclass(slots=True)
class Token:
    value: str
    kind: TokenKind
    grant: Grant
    issued_at: float
    expires_at: float | None
    revoked: bool = False
    subject: str | None = None
    long_lived: bool = False

    def status(self, now: float) -> TokenStatus:
        if self.revoked or self.grant.revoked:
            return TokenStatus.REVOKED
        if self.expires_at is not None and now >= self.expires_at:
            return TokenStatus.EXPIRED
        return TokenStatus.OK


@dataclass(slots=True)
class AuthCode:
    value: str
    provider: str
    user: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    expires_at: float
    code_challenge: str | None = None
    challenge_method: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    used: bool = False


@dataclass(frozen=True, slots=True)
class Lookup:
    status: TokenStatus
    token: Token | None

    @property
    def ok(self) -> bool:
        return self.status is TokenStatus.OK


class TokenStore:
    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self.grants: dict[str, Grant] = {}
        self.tokens: dict[str, Token] = {}
        self.codes: dict[str, AuthCode] = {}

    def new_grant(self, provider: str, user: str, client_id: str, scopes: tuple[str, ...]) -> Grant:
        grant = Grant(
            id=secrets.token_hex(8),
            provider=provider,
            user=user,
            client_id=client_id,
            scopes=scopes,
            created_at=self._clock.now(),
        )
        self.grants[grant.id] = grant
        return grant

    def issue(
        self,
        grant: Grant,
        kind: TokenKind,
        lifetime: float | None,
        prefix: str = "",
        *,
        subject: str | None = None,
        long_lived: bool = False,
        value: str | None = None,
    ) -> Token:
        now = self._clock.now()
        token = Token(
            value=value or prefix + secrets.token_urlsafe(32),
            kind=kind,
            grant=grant,
            issued_at=now,
            expires_at=None if lifetime is None else now + lifetime,
            subject=subject,
            long_lived=long_lived,
        )
        self.tokens[token.value] = token
        return token

    def lookup(self, value: str | None, kind: TokenKind, provider: str) -> Lookup:
        token = self.tokens.get(value) if value else None
        if token is None or token.kind is not kind or token.grant.provider != provider:
            return Lookup(TokenStatus.UNKNOWN, None)
        return Lookup(token.status(self._clock.now()), token)

    def find(self, value: str) -> Token | None:
        return self.tokens.get(value)

    def retire(self, token: Token) -> None:
        """Kill one token (a rotated refresh token) without touching its grant."""
        token.revoked = True

    def issue_code(self, code: AuthCode) -> AuthCode:
        self.codes[code.value] = code
        return code

    def take_code(self, value: str | None, provider: str) -> tuple[CodeStatus, AuthCode | None]:
        """Codes are single-use: the first call consumes it, later calls see USED."""
        code = self.codes.get(value) if value else None
        if code is None or code.provider != provider:
            return CodeStatus.UNKNOWN, None
        if code.used:
            return CodeStatus.USED, code
        code.used = True
        if self._clock.now() >= code.expires_at:
            return CodeStatus.EXPIRED, code
        return CodeStatus.OK, code

    def grants_of(self, match: Callable[[Grant], bool]) -> Iterator[Grant]:
        return (g for g in self.grants.values() if match(g))

    def revoke_grants(self, match: Callable[[Grant], bool]) -> int:
        count = 0
        for grant in self.grants_of(match):
            if not grant.revoked:
                grant.revoked = True
                count += 1
        return count

    def expire_tokens(self, match: Callable[[Token], bool]) -> int:
        now = self._clock.now()
        count = 0
        for token in self.tokens.values():
            if match(token) and token.status(now) is TokenStatus.OK:
                token.expires_at = now - 1
                count += 1
        return count
