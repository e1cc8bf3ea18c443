"""The service credential on internal routes: a bearer token from settings, compared in
constant time. Gateway JWTs for the public routes come with a later issue."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from mooring.service.problems import Problem

__all__ = ["service_credential"]

_bearer = HTTPBearer(auto_error=False, scheme_name="ServiceToken")


def service_credential(tokens: Sequence[SecretStr]) -> Callable[..., Awaitable[None]]:
    """A dependency admitting a request whose bearer token is one of `tokens`.

    No tokens configured admits nobody: an internal route is never open by omission.
    """
    expected = [t.get_secret_value().encode() for t in tokens if t.get_secret_value()]

    async def require(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        presented = credentials.credentials.encode() if credentials is not None else b""
        matched = False
        for candidate in expected:  # every candidate is compared: no early exit to time
            matched |= hmac.compare_digest(presented, candidate)
        if not presented or not matched:
            raise Problem(
                401,
                "unauthenticated",
                "Service credential required",
                "Internal routes need a valid service bearer token.",
                headers={"WWW-Authenticate": 'Bearer realm="mooring-internal"'},
            )

    return require
