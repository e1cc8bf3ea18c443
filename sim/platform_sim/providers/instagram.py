"""Instagram API with Instagram Login (standalone professional accounts, no Facebook Page)."""

from typing import Any

from starlette.responses import Response
from starlette.routing import Mount

from platform_sim.oauth import RedeemError
from platform_sim.providers.longlived import LongLivedSpec, mount_long_lived
from platform_sim.state import SimState
from platform_sim.store import Grant
from platform_sim.users import User
from platform_sim.web import json_response

__all__ = ["mount"]

_MESSAGES = {
    RedeemError.USED: "This authorization code has been used",
    RedeemError.EXPIRED: "This authorization code has expired",
    RedeemError.REDIRECT: "Error validating verification code. Please make sure your "
    "redirect_uri is identical to the one you used in the OAuth dialog request",
}


def _code_error(problem: RedeemError, fallback: str) -> Response:
    # api.instagram.com keeps the old flat error shape, unlike graph.instagram.com.
    return json_response(
        {
            "error_type": "OAuthException",
            "code": 400,
            "error_message": _MESSAGES.get(problem, fallback),
        },
        400,
    )


def _code_success(token: str, user: User, grant: Grant) -> dict[str, Any]:
    return {"access_token": token, "user_id": int(user.id), "permissions": list(grant.scopes)}


def _profile(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "user_id": user.id,
        "username": user.name,
        "name": user.display_name,
        "account_type": "BUSINESS",
        "profile_picture_url": f"https://scontent.cdninstagram.com/sim/{user.id}.jpg",
        "followers_count": 830,
        "follows_count": 120,
        "media_count": 57,
    }


SPEC = LongLivedSpec(
    provider="instagram",
    title="Instagram",
    exchange_grant="ig_exchange_token",
    refresh_grant="ig_refresh_token",
    token_prefix="IGAA",  # noqa: S106 - a token prefix, not a secret
    profile=_profile,
    profile_default=("id",),
    code_error=_code_error,
    code_success=_code_success,
)


def mount(state: SimState) -> Mount:
    return mount_long_lived(state, SPEC)
