"""Who is calling: gateway JWTs on public routes, service credentials on internal ones.

Public routes take a bearer JWT minted by the gateway, carrying the user (`sub`), the workspace
(`workspace_id`) and the role (`owner` | `admin` | `member`). A token for another workspace gets
404, exactly like a resource that does not exist, so workspace ids cannot be probed. Internal
routes take a service token from settings, compared in constant time. With nothing configured,
nobody is admitted: a route is never open by omission.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, get_args

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mooring.service.problems import Problem

__all__ = [
    "GatewayJwtSettings",
    "Principal",
    "Role",
    "authenticate_gateway",
    "issue_gateway_token",
    "service_credential",
    "service_token_matches",
    "service_token_problem",
    "workspace_principal",
]

Role = Literal["owner", "admin", "member"]
MANAGING_ROLES: frozenset[Role] = frozenset({"owner", "admin"})

_gateway_bearer = HTTPBearer(auto_error=False, scheme_name="GatewayJWT")
_service_bearer = HTTPBearer(auto_error=False, scheme_name="ServiceToken")


_HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HMAC key at least as long as the hash


class GatewayJwtSettings(BaseSettings):
    """How gateway tokens are verified: a shared HMAC secret or a public key (RSA, EC, Ed25519).

    The algorithms must fit the key: a public key with HS256 would let anyone who has the
    public key sign tokens (and failed as a 500 at the first request), so it is refused when
    the settings are read, like a key that does not parse or a secret too short for HMAC.
    """

    model_config = SettingsConfigDict(env_prefix="MOORING_GATEWAY_JWT_", extra="ignore")

    secret: SecretStr = SecretStr("")
    public_key: str = ""
    algorithms: list[str] = Field(default_factory=lambda: ["HS256"])
    issuer: str = "mooring-gateway"
    audience: str = "mooring"
    leeway_s: int = Field(default=30, ge=0)

    @model_validator(mode="after")
    def _algorithms_fit_the_key(self) -> GatewayJwtSettings:
        if not self.algorithms:
            raise ValueError("MOORING_GATEWAY_JWT_ALGORITHMS is empty")
        secret = self.secret.get_secret_value()
        if secret and self.public_key:
            raise ValueError("set MOORING_GATEWAY_JWT_SECRET or _PUBLIC_KEY, not both")
        if self.public_key:
            allowed = _public_key_algorithms(self.public_key)
            key_kind = "this public key"
        elif secret:
            if len(secret.encode()) < _MIN_SECRET_BYTES:
                raise ValueError(
                    f"MOORING_GATEWAY_JWT_SECRET must be at least {_MIN_SECRET_BYTES} bytes"
                )
            allowed, key_kind = _HMAC_ALGORITHMS, "a shared secret"
        else:
            return self  # nothing configured: nobody is admitted
        wrong = sorted(set(self.algorithms) - allowed)
        if wrong:
            raise ValueError(
                f"algorithm(s) {', '.join(wrong)} do not fit {key_kind}; "
                f"use {', '.join(sorted(allowed))}"
            )
        return self

    def verification_key(self) -> str:
        return self.public_key or self.secret.get_secret_value()


def _public_key_algorithms(pem: str) -> frozenset[str]:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("MOORING_GATEWAY_JWT_PUBLIC_KEY is not a PEM public key") from None
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _EC_ALGORITHMS:
        return frozenset({_EC_ALGORITHMS[key.curve.name]})
    if isinstance(key, ed25519.Ed25519PublicKey):
        return frozenset({"EdDSA"})
    raise ValueError("MOORING_GATEWAY_JWT_PUBLIC_KEY is of a kind JWTs do not use")


@dataclass(frozen=True)
class Principal:
    user_id: str
    workspace_id: uuid.UUID
    role: Role

    @property
    def can_manage(self) -> bool:
        return self.role in MANAGING_ROLES


def _unauthenticated(detail: str) -> Problem:
    return Problem(
        401,
        "unauthenticated",
        "Authentication required",
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="mooring"'},
    )


def _decode(settings: GatewayJwtSettings, token: str) -> Principal:
    key = settings.verification_key()
    if not key:
        raise _unauthenticated("This deployment has no gateway key configured.")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=settings.algorithms,
            audience=settings.audience,
            issuer=settings.issuer,
            leeway=settings.leeway_s,
            options={"require": ["exp", "sub", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise _unauthenticated("The token has expired.") from None
    except jwt.InvalidTokenError as exc:
        # The library's message names the failed check, never the token itself.
        raise _unauthenticated(f"The token is not valid: {type(exc).__name__}.") from None
    role: Role | None = next((r for r in get_args(Role) if r == claims.get("role")), None)
    try:
        workspace_id = uuid.UUID(str(claims.get("workspace_id")))
    except ValueError:
        raise _unauthenticated("The token names no valid workspace_id.") from None
    if role is None:
        raise _unauthenticated("The token names no valid role (owner, admin or member).")
    return Principal(user_id=str(claims["sub"]), workspace_id=workspace_id, role=role)


def workspace_principal(
    settings: GatewayJwtSettings, *, manage: bool = False
) -> Callable[..., Awaitable[Principal]]:
    """A dependency for routes under `/v1/workspaces/{workspace_id}`.

    `manage=True` admits owners and admins only (403 for members).
    """

    async def require(
        workspace_id: uuid.UUID,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_gateway_bearer)],
    ) -> Principal:
        if credentials is None:
            raise _unauthenticated("A gateway bearer token is required.")
        principal = _decode(settings, credentials.credentials)
        if principal.workspace_id != workspace_id:
            raise Problem(404, "not-found", "Not found")
        if manage and not principal.can_manage:
            raise Problem(403, "forbidden", "Forbidden", "Only owners and admins manage accounts.")
        return principal

    return require


def service_token_problem() -> Problem:
    return Problem(
        401,
        "unauthenticated",
        "Service credential required",
        "Internal routes need a valid service bearer token.",
        headers={"WWW-Authenticate": 'Bearer realm="mooring-internal"'},
    )


def service_token_matches(tokens: Sequence[SecretStr], presented: str) -> bool:
    """Is `presented` one of `tokens`? Every candidate is compared (no early exit to time)."""
    offered = presented.encode()
    matched = False
    for candidate in (t.get_secret_value().encode() for t in tokens if t.get_secret_value()):
        matched |= hmac.compare_digest(offered, candidate)
    return bool(offered) and matched


def authenticate_gateway(settings: GatewayJwtSettings, token: str) -> Principal:
    """The caller a gateway JWT names; a 401 `Problem` when it is not valid."""
    return _decode(settings, token)


def service_credential(tokens: Sequence[SecretStr]) -> Callable[..., Awaitable[None]]:
    """A dependency admitting a request whose bearer token is one of `tokens` (rotation)."""

    async def require(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_service_bearer)],
    ) -> None:
        presented = credentials.credentials if credentials is not None else ""
        if not service_token_matches(tokens, presented):
            raise service_token_problem()

    return require


def issue_gateway_token(
    settings: GatewayJwtSettings,
    *,
    user_id: str,
    workspace_id: uuid.UUID,
    role: Role,
    ttl: timedelta = timedelta(hours=12),
) -> str:
    """Mint a token the way the gateway does (HS256 with the shared secret): dev and tests."""
    secret = settings.secret.get_secret_value()
    if not secret:
        raise ValueError("MOORING_GATEWAY_JWT_SECRET is empty: cannot sign a token")
    now = datetime.now(UTC)
    return jwt.encode(
        {
            "sub": user_id,
            "workspace_id": str(workspace_id),
            "role": role,
            "iss": settings.issuer,
            "aud": settings.audience,
            "iat": now,
            "exp": now + ttl,
        },
        secret,
        algorithm="HS256",
    )
