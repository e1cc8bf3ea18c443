"""TikTok Login Kit v2: 2-hour access tokens, 180-day refresh tokens that rotate on use."""

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from platform_sim.consent import ConsentPolicy, authorize
from platform_sim.lifetimes import TIKTOK_ACCESS, TIKTOK_REFRESH
from platform_sim.oauth import RedeemError, live_refresh_token, oauth_error, redeem_form
from platform_sim.state import SimState
from platform_sim.store import Grant, TokenKind
from platform_sim.web import bearer, body_params, json_response

__all__ = ["mount"]

PROVIDER = "tiktok"
POLICY = ConsentPolicy(provider=PROVIDER, title="TikTok", client_param="client_key")
_CODE_MESSAGES = {
    RedeemError.EXPIRED: "Authorization code is expired.",
    RedeemError.USED: "Authorization code is expired.",
    RedeemError.REDIRECT: "Redirect URI is invalid.",
    RedeemError.PKCE: "Code verifier or code challenge is invalid.",
}


def _log_id() -> str:
    return secrets.token_hex(16).upper()


def _api_error(code: str, message: str, status: int) -> Response:
    return json_response(
        {"data": {}, "error": {"code": code, "message": message, "log_id": _log_id()}}, status
    )


def mount(state: SimState) -> Mount:  # noqa: C901 - handlers share one closure
    def issue(grant: Grant) -> dict[str, Any]:
        access = state.store.issue(grant, TokenKind.ACCESS, TIKTOK_ACCESS, "act.")
        refresh = state.store.issue(grant, TokenKind.REFRESH, TIKTOK_REFRESH, "rft.")
        user = state.users.ensure(PROVIDER, grant.user)
        return {
            "access_token": access.value,
            "expires_in": TIKTOK_ACCESS,
            "open_id": user.id,
            "refresh_expires_in": TIKTOK_REFRESH,
            "refresh_token": refresh.value,
            "scope": ",".join(grant.scopes),
            "token_type": "Bearer",
        }

    async def authorize_endpoint(request: Request) -> Response:
        return await authorize(request, state, POLICY)

    async def token(request: Request) -> Response:
        form = await body_params(request)
        client_key = form.get("client_key", "")
        if not client_key or not state.client_ok(PROVIDER, client_key, form.get("client_secret")):
            return oauth_error(
                "invalid_client", "Client key or secret is invalid.", log_id=_log_id()
            )
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            problem, code = redeem_form(state, PROVIDER, form, client_key, allow_hex=True)
            if problem is not None or code is None:
                message = _CODE_MESSAGES.get(
                    problem or RedeemError.UNKNOWN, "Authorization code is invalid."
                )
                return oauth_error("invalid_grant", message, log_id=_log_id())
            grant = state.store.new_grant(PROVIDER, code.user, client_key, code.scopes)
            return json_response(issue(grant))
        if grant_type == "refresh_token":
            used = live_refresh_token(state, PROVIDER, form, client_key)
            if used is None:
                return oauth_error(
                    "invalid_grant", "Refresh token is invalid or expired.", log_id=_log_id()
                )
            # "The previous refresh token stops working once a new one is issued."
            state.store.retire(used)
            return json_response(issue(used.grant))
        return oauth_error("invalid_request", "grant_type is invalid.", log_id=_log_id())

    async def revoke(request: Request) -> Response:
        form = await body_params(request)
        found = state.store.find(form.get("token", ""))
        if found is not None and found.grant.provider == PROVIDER:
            state.store.revoke_grants(lambda g: g is found.grant)
        return json_response({})

    async def user_info(request: Request) -> Response:
        found = state.store.lookup(bearer(request), TokenKind.ACCESS, PROVIDER)
        if not found.ok or found.token is None:
            return _api_error(
                "access_token_invalid",
                "The access token is invalid or not found in the request.",
                401,
            )
        fields_param = request.query_params.get("fields")
        if not fields_param:
            return _api_error("invalid_params", "Fields is required.", 400)
        user = state.users.ensure(PROVIDER, found.token.grant.user)
        profile = {
            "open_id": user.id,
            "union_id": "u" + user.id[4:],
            "avatar_url": f"https://p16-sign.tiktokcdn.com/sim/{user.name}.jpeg",
            "display_name": user.display_name,
            "username": user.name,
            "bio_description": "Simulated TikTok creator",
            "is_verified": False,
            "follower_count": 321,
        }
        wanted = [f.strip() for f in fields_param.split(",")]
        return json_response(
            {
                "data": {"user": {k: profile[k] for k in wanted if k in profile}},
                "error": {"code": "ok", "message": "", "log_id": _log_id()},
            }
        )

    routes = []
    for path, endpoint, methods in (
        ("/v2/auth/authorize", authorize_endpoint, ["GET", "POST"]),
        ("/v2/oauth/token", token, ["POST"]),
        ("/v2/oauth/revoke", revoke, ["POST"]),
        ("/v2/user/info", user_info, ["GET"]),
    ):
        # TikTok documents trailing slashes; serve both forms rather than redirect a POST.
        routes += [
            Route(path + "/", endpoint, methods=methods),
            Route(path, endpoint, methods=methods),
        ]
    return Mount("/tiktok", routes=routes)
