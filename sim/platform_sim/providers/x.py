"""X (Twitter) OAuth 2.0 with mandatory PKCE; refresh tokens rotate and die on use."""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from platform_sim.consent import ConsentPolicy, authorize
from platform_sim.lifetimes import X_ACCESS, X_CODE_TTL
from platform_sim.oauth import live_refresh_token, oauth_error, redeem_form
from platform_sim.state import SimState
from platform_sim.store import Grant, TokenKind
from platform_sim.web import basic_auth, bearer, body_params, json_response

__all__ = ["mount"]

PROVIDER = "x"
POLICY = ConsentPolicy(provider=PROVIDER, title="X", require_pkce=True, code_ttl=X_CODE_TTL)
_INVALID = "Value passed for the token was invalid."


def _unauthorized() -> Response:
    return json_response(
        {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
        401,
    )


def mount(state: SimState) -> Mount:  # noqa: C901 - handlers share one closure
    def issue(grant: Grant) -> dict[str, Any]:
        access = state.store.issue(grant, TokenKind.ACCESS, X_ACCESS)
        body: dict[str, Any] = {
            "token_type": "bearer",
            "expires_in": X_ACCESS,
            "access_token": access.value,
            "scope": " ".join(grant.scopes),
        }
        if "offline.access" in grant.scopes:
            # X does not document a refresh-token lifetime; it lives until used or revoked.
            body["refresh_token"] = state.store.issue(grant, TokenKind.REFRESH, None).value
        return body

    def client_of(request: Request, form: dict[str, str]) -> str | None:
        basic = basic_auth(request)
        if basic is not None:
            return basic[0] if state.client_ok(PROVIDER, *basic) else None
        return form.get("client_id") or None

    async def authorize_endpoint(request: Request) -> Response:
        return await authorize(request, state, POLICY)

    async def token(request: Request) -> Response:
        form = await body_params(request)
        client_id = client_of(request, form)
        if client_id is None:
            return oauth_error("unauthorized_client", "Missing valid authorization header", 401)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            problem, code = redeem_form(state, PROVIDER, form, client_id)
            if problem is not None or code is None:
                return oauth_error("invalid_request", _INVALID)
            grant = state.store.new_grant(PROVIDER, code.user, client_id, code.scopes)
            return json_response(issue(grant))
        if grant_type == "refresh_token":
            used = live_refresh_token(state, PROVIDER, form, client_id)
            if used is None:
                return oauth_error("invalid_request", _INVALID)
            state.store.retire(used)
            return json_response(issue(used.grant))
        return oauth_error("invalid_request", "Missing required parameter [grant_type].")

    async def revoke(request: Request) -> Response:
        form = await body_params(request)
        token = state.store.find(form.get("token", ""))
        if token is not None and token.grant.provider == PROVIDER:
            if token.kind is TokenKind.REFRESH:
                state.store.revoke_grants(lambda g: g is token.grant)
            else:
                state.store.retire(token)
        return json_response({"revoked": True})

    async def users_me(request: Request) -> Response:
        found = state.store.lookup(bearer(request), TokenKind.ACCESS, PROVIDER)
        if not found.ok or found.token is None:
            return _unauthorized()
        user = state.users.ensure(PROVIDER, found.token.grant.user)
        return json_response(
            {"data": {"id": user.id, "name": user.display_name, "username": user.name}}
        )

    return Mount(
        "/x",
        routes=[
            Route("/i/oauth2/authorize", authorize_endpoint, methods=["GET", "POST"]),
            Route("/2/oauth2/token", token, methods=["POST"]),
            Route("/2/oauth2/revoke", revoke, methods=["POST"]),
            Route("/2/users/me", users_me, methods=["GET"]),
        ],
    )
