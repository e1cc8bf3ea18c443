"""Pinterest v5: HTTP Basic token endpoint, continuous refresh (a new refresh token every time)."""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from platform_sim.consent import ConsentPolicy, authorize
from platform_sim.lifetimes import PINTEREST_ACCESS, PINTEREST_REFRESH
from platform_sim.oauth import live_refresh_token, redeem
from platform_sim.state import SimState
from platform_sim.store import Grant, TokenKind
from platform_sim.web import basic_auth, bearer, body_params, json_response

__all__ = ["mount"]

PROVIDER = "pinterest"
POLICY = ConsentPolicy(provider=PROVIDER, title="Pinterest")


def _auth_failed() -> Response:
    return json_response({"code": 2, "message": "Authentication failed."}, 401)


def mount(state: SimState) -> Mount:  # noqa: C901 - handlers share one closure
    def issue(grant: Grant, response_type: str) -> dict[str, Any]:
        access = state.store.issue(grant, TokenKind.ACCESS, PINTEREST_ACCESS, "pina_")
        refresh = state.store.issue(grant, TokenKind.REFRESH, PINTEREST_REFRESH, "pinr_")
        return {
            "access_token": access.value,
            "refresh_token": refresh.value,
            "response_type": response_type,
            "token_type": "bearer",
            "expires_in": PINTEREST_ACCESS,
            "refresh_token_expires_in": PINTEREST_REFRESH,
            "refresh_token_expires_at": int(refresh.expires_at or 0),
            "scope": ",".join(grant.scopes),
        }

    async def authorize_endpoint(request: Request) -> Response:
        return await authorize(request, state, POLICY)

    async def token(request: Request) -> Response:
        basic = basic_auth(request)
        if basic is None or not state.client_ok(PROVIDER, *basic):
            return _auth_failed()
        client_id = basic[0]
        form = await body_params(request)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            problem, code = redeem(
                state, PROVIDER, form.get("code"), client_id, form.get("redirect_uri")
            )
            if problem is not None or code is None:
                return json_response({"code": 1, "message": "Invalid authorization code."}, 400)
            grant = state.store.new_grant(PROVIDER, code.user, client_id, code.scopes)
            return json_response(issue(grant, "authorization_code"))
        if grant_type == "refresh_token":
            used = live_refresh_token(state, PROVIDER, form, client_id)
            if used is None:
                return json_response({"code": 1, "message": "Invalid refresh token."}, 400)
            # Continuous refresh: every refresh issues a new refresh token; the used one dies.
            state.store.retire(used)
            return json_response(issue(used.grant, "refresh_token"))
        return json_response({"code": 1, "message": "Invalid grant_type."}, 400)

    async def user_account(request: Request) -> Response:
        found = state.store.lookup(bearer(request), TokenKind.ACCESS, PROVIDER)
        if not found.ok or found.token is None:
            return _auth_failed()
        user = state.users.ensure(PROVIDER, found.token.grant.user)
        return json_response(
            {
                "account_type": "BUSINESS",
                "id": user.id,
                "username": user.name,
                "profile_image": f"https://i.pinimg.com/sim/{user.name}.jpg",
                "website_url": f"https://{user.name}.example.invalid",
                "business_name": user.display_name,
                "board_count": 2,
                "pin_count": 25,
                "follower_count": 140,
                "following_count": 12,
                "monthly_views": 5000,
            }
        )

    async def boards(request: Request) -> Response:
        found = state.store.lookup(bearer(request), TokenKind.ACCESS, PROVIDER)
        if not found.ok or found.token is None:
            return _auth_failed()
        user = state.users.ensure(PROVIDER, found.token.grant.user)
        items = [
            {"id": user.id[:12] + str(n), "name": name, "privacy": "PUBLIC"}
            for n, name in enumerate(("Ideas", "Launches"), start=1)
        ]
        return json_response({"items": items, "bookmark": None})

    return Mount(
        "/pinterest",
        routes=[
            Route("/oauth/", authorize_endpoint, methods=["GET", "POST"]),
            Route("/oauth", authorize_endpoint, methods=["GET", "POST"]),
            Route("/v5/oauth/token", token, methods=["POST"]),
            Route("/v5/user_account", user_account, methods=["GET"]),
            Route("/v5/boards", boards, methods=["GET"]),
        ],
    )
