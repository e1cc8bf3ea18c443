"""Threads (graph.threads.net): the Instagram-style long-lived token model with th_ grants."""

from typing import Any

from starlette.responses import Response
from starlette.routing import Mount

from platform_sim.oauth import RedeemError
from platform_sim.providers.graph import REDIRECT_MISMATCH, meta_error
from platform_sim.providers.longlived import LongLivedSpec, mount_long_lived
from platform_sim.state import SimState
from platform_sim.store import Grant
from platform_sim.users import User

__all__ = ["mount"]

_ERRORS: dict[RedeemError, tuple[str, int]] = {
    RedeemError.USED: ("This authorization code has been used.", 36009),
    RedeemError.EXPIRED: ("This authorization code has expired.", 36007),
    RedeemError.REDIRECT: (REDIRECT_MISMATCH, 36008),
}


def _code_error(problem: RedeemError, fallback: str) -> Response:
    message, subcode = _ERRORS.get(problem, (fallback, 0))
    return meta_error(message, 100, subcode or None)


def _code_success(token: str, user: User, _grant: Grant) -> dict[str, Any]:
    return {"access_token": token, "user_id": int(user.id)}


def _profile(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.name,
        "name": user.display_name,
        "threads_profile_picture_url": f"https://scontent.cdninstagram.com/sim/t/{user.id}.jpg",
        "threads_biography": "Simulated Threads profile",
    }


SPEC = LongLivedSpec(
    provider="threads",
    title="Threads",
    exchange_grant="th_exchange_token",
    refresh_grant="th_refresh_token",
    token_prefix="THAA",  # noqa: S106 - a token prefix, not a secret
    profile=_profile,
    profile_default=("id",),
    code_error=_code_error,
    code_success=_code_success,
)


def mount(state: SimState) -> Mount:
    return mount_long_lived(state, SPEC)
