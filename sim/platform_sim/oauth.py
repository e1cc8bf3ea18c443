"""Code redemption, refresh-token lookup and OAuth error bodies shared by the providers."""

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from starlette.responses import Response

from platform_sim.consent import pkce_matches
from platform_sim.state import SimState
from platform_sim.store import AuthCode, CodeStatus, Token, TokenKind
from platform_sim.web import json_response

__all__ = ["RedeemError", "live_refresh_token", "oauth_error", "redeem", "redeem_form"]


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


def redeem_form(
    state: SimState,
    provider: str,
    form: Mapping[str, str],
    client_id: str,
    *,
    allow_hex: bool = False,
) -> tuple[RedeemError | None, AuthCode | None]:
    """`redeem` for a standard token-endpoint form (`code`, `redirect_uri`, `code_verifier`)."""
    return redeem(
        state,
        provider,
        form.get("code"),
        client_id,
        form.get("redirect_uri"),
        form.get("code_verifier"),
        allow_hex=allow_hex,
    )


def live_refresh_token(
    state: SimState, provider: str, form: Mapping[str, str], client_id: str
) -> Token | None:
    """The form's `refresh_token` if it is alive and was issued to this client, else None."""
    found = state.store.lookup(form.get("refresh_token"), TokenKind.REFRESH, provider)
    if not found.ok or found.token is None or found.token.grant.client_id != client_id:
        return None
    return found.token


def oauth_error(error: str, description: str, status: int = 400, **extra: Any) -> Response:
    return json_response({"error": error, "error_description": description, **extra}, status)
