"""Instagram Login and Threads share one token model: a 1-hour token exchanged for a 60-day one,
which is then extended in place — only once it is at least 24 hours old and not yet expired."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, Router

from platform_sim.consent import ConsentPolicy, authorize
from platform_sim.lifetimes import META_LONG, META_MIN_AGE_TO_REFRESH, META_SHORT
from platform_sim.oauth import RedeemError, redeem
from platform_sim.providers.graph import StripGraphVersion, dead_token, meta_error
from platform_sim.state import SimState
from platform_sim.store import Grant, TokenKind, TokenStatus
from platform_sim.users import User
from platform_sim.web import bearer, body_params, json_response, select_fields

__all__ = ["LongLivedSpec", "mount_long_lived"]


@dataclass(frozen=True, slots=True)
class LongLivedSpec:
    provider: str
    title: str
    exchange_grant: str
    refresh_grant: str
    token_prefix: str
    profile: Callable[[User], dict[str, Any]]
    profile_default: tuple[str, ...]
    code_error: Callable[[RedeemError, str], Response]
    code_success: Callable[[str, User, Grant], dict[str, Any]]


def mount_long_lived(state: SimState, spec: LongLivedSpec) -> Mount:  # noqa: C901
    provider = spec.provider
    policy = ConsentPolicy(provider=provider, title=spec.title, fragment="#_")

    async def authorize_endpoint(request: Request) -> Response:
        return await authorize(request, state, policy)

    async def code_exchange(request: Request) -> Response:
        form = await body_params(request)
        client_id = form.get("client_id", "")
        if not client_id or not state.client_ok(provider, client_id, form.get("client_secret")):
            return spec.code_error(RedeemError.CLIENT, "Invalid client_id or client_secret")
        if form.get("grant_type") != "authorization_code":
            return spec.code_error(RedeemError.UNKNOWN, "Invalid grant_type")
        # Meta appends "#_" to the redirect; a code pasted with it is still accepted.
        code_value = form.get("code", "").removesuffix("#_")
        problem, code = redeem(state, provider, code_value, client_id, form.get("redirect_uri"))
        if problem is not None or code is None:
            return spec.code_error(problem or RedeemError.UNKNOWN, "Invalid authorization code")
        grant = state.store.new_grant(provider, code.user, client_id, code.scopes)
        short = state.store.issue(grant, TokenKind.ACCESS, META_SHORT, spec.token_prefix)
        user = state.users.ensure(provider, code.user)
        return json_response(spec.code_success(short.value, user, grant))

    async def exchange(request: Request) -> Response:
        query = request.query_params
        if query.get("grant_type") != spec.exchange_grant:
            return meta_error(f"grant_type must be {spec.exchange_grant}", 100)
        found = state.store.lookup(query.get("access_token"), TokenKind.ACCESS, provider)
        if not found.ok or found.token is None:
            return dead_token(found.status)
        if found.token.long_lived:
            return meta_error("The access token is already long-lived.", 100)
        long = state.store.issue(
            found.token.grant, TokenKind.ACCESS, META_LONG, spec.token_prefix, long_lived=True
        )
        return json_response(
            {"access_token": long.value, "token_type": "bearer", "expires_in": META_LONG}
        )

    async def refresh(request: Request) -> Response:
        query = request.query_params
        if query.get("grant_type") != spec.refresh_grant:
            return meta_error(f"grant_type must be {spec.refresh_grant}", 100)
        found = state.store.lookup(query.get("access_token"), TokenKind.ACCESS, provider)
        if found.status is not TokenStatus.OK or found.token is None:
            # Expired long-lived tokens cannot be refreshed: the user has to log in again.
            return dead_token(found.status)
        token = found.token
        now = state.clock.now()
        if not token.long_lived:
            return meta_error("Short-lived tokens cannot be refreshed; exchange it first.", 100)
        if now - token.issued_at < META_MIN_AGE_TO_REFRESH:
            # Code 100 (bad request), deliberately not 190: the token is alive and well.
            return meta_error(
                "The access token is too new to be refreshed; it must be at least 24 hours old.",
                100,
            )
        token.issued_at = now
        token.expires_at = now + META_LONG
        return json_response(
            {"access_token": token.value, "token_type": "bearer", "expires_in": META_LONG}
        )

    async def me(request: Request) -> Response:
        found = state.store.lookup(bearer(request), TokenKind.ACCESS, provider)
        if not found.ok or found.token is None:
            return dead_token(found.status)
        user = state.users.ensure(provider, found.token.grant.user)
        node_id = request.path_params.get("node_id")
        if node_id is not None and node_id != user.id:
            return meta_error(
                f"Object with ID '{node_id}' does not exist, cannot be loaded due to missing "
                "permissions, or does not support this operation.",
                100,
                33,
                error_type="GraphMethodException",
            )
        fields = request.query_params.get("fields")
        return json_response(select_fields(spec.profile(user), fields, spec.profile_default))

    graph = Router(
        routes=[
            Route("/oauth/authorize", authorize_endpoint, methods=["GET", "POST"]),
            Route("/oauth/access_token", code_exchange, methods=["POST"]),
            Route("/access_token", exchange, methods=["GET"]),
            Route("/refresh_access_token", refresh, methods=["GET"]),
            Route("/me", me, methods=["GET"]),
            Route("/{node_id}", me, methods=["GET"]),
        ]
    )
    return Mount(f"/{provider}", app=StripGraphVersion(graph))
