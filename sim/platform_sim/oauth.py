"""Code redemption and OAuth error bodies shared by the providers."""

from enum import StrEnum
from typing import Any

from starlette.responses import Response

from platform_sim.consent import pkce_matches
from platform_sim.state import SimState
from platform_sim.store import AuthCode, CodeStatus
from platform_sim.web import json_response

__all__ = ["RedeemError", "oauth_error", "redeem"]


class RedeemError(StrEnum):
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    CLIENT = "client_mismatch"
    REDIRECT = "redirect_mismatch"
    PKCE = "pkce_mismatch"


def redeem(  # noqa: PLR0911 - one answer per way a code can be wrong
    state: SimState,
    provider: str,
    code: str | None,
    client_id: str | None,
    redirect_uri: str | None,
    verifier: str | None = None,
    *,
    allow_hex: bool = False,
    check_redirect: bool = True,
) -> tuple[RedeemError | None, AuthCode | None]:
    status, found = state.store.take_code(code, provider)
    if found is None or status is CodeStatus.UNKNOWN:
        return RedeemError.UNKNOWN, None
    if status is CodeStatus.USED:
        return RedeemError.USED, found
    if status is CodeStatus.EXPIRED:
        return RedeemError.EXPIRED, found
    if client_id != found.client_id:
        return RedeemError.CLIENT, found
    if check_redirect and redirect_uri != found.redirect_uri:
        return RedeemError.REDIRECT, found
    if not pkce_matches(
        found.code_challenge, found.challenge_method, verifier, allow_hex=allow_hex
    ):
        return RedeemError.PKCE, found
    return None, found


def oauth_error(error: str, description: str, status: int = 400, **extra: Any) -> Response:
    return json_response({"error": error, "error_description": description, **extra}, status)
