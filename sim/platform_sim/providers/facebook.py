"""Facebook Login + Graph API: short→long-lived user tokens, page tokens, Page-linked Instagram.

Serves both `facebook` and `instagram-facebook`: they are one Meta app and one Graph API.
"""

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, Router

from platform_sim.consent import ConsentPolicy, authorize
from platform_sim.lifetimes import DAY, FACEBOOK_LONG, FACEBOOK_SHORT
from platform_sim.oauth import RedeemError, redeem
from platform_sim.providers.graph import (
    REDIRECT_MISMATCH,
    StripGraphVersion,
    dead_token,
    meta_error,
)
from platform_sim.state import SimState
from platform_sim.store import Token, TokenKind
from platform_sim.users import InstagramAccount, Page, User
from platform_sim.web import json_response, params, select_fields

__all__ = ["mount"]

PROVIDER = "facebook"
POLICY = ConsentPolicy(provider=PROVIDER, title="Facebook")
_PAGE_TASKS = ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"]
_CODE_ERRORS: dict[RedeemError, tuple[str, int | None]] = {
    RedeemError.USED: ("This authorization code has been used.", 36009),
    RedeemError.EXPIRED: ("This authorization code has expired.", 36007),
    RedeemError.REDIRECT: (REDIRECT_MISMATCH, 36008),
}


def _page_json(page: Page, token: str | None) -> dict[str, Any]:
    return {
        "id": page.id,
        "name": page.name,
        "category": page.category,
        "access_token": token,
        "tasks": _PAGE_TASKS,
        "username": page.name.lower().replace(" ", ""),
        "link": f"https://www.facebook.com/{page.id}",
        "picture": {"data": {"url": f"https://graph.facebook.com/{page.id}/picture"}},
        "instagram_business_account": None if page.instagram is None else {"id": page.instagram.id},
    }


def _ig_json(ig: InstagramAccount) -> dict[str, Any]:
    return {
        "id": ig.id,
        "username": ig.username,
        "name": ig.name,
        "profile_picture_url": f"https://scontent.cdninstagram.com/sim/{ig.id}.jpg",
        "followers_count": 1200,
        "media_count": 42,
    }


def _user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.display_name,
        "email": f"{user.name}@example.invalid",
        "picture": {"data": {"url": f"https://graph.facebook.com/{user.id}/picture"}},
    }


def mount(state: SimState) -> Mount:  # noqa: C901, PLR0915 - handlers share one closure
    # user-token value -> page id -> page-token value; validated against the store on use.
    page_tokens: dict[str, dict[str, str]] = {}

    def page_token(user_token: Token, page: Page) -> str:
        cache = page_tokens.setdefault(user_token.value, {})
        cached = cache.get(page.id)
        if cached is not None and state.store.find(cached) is not None:
            return cached
        # From a long-lived user token a page token never expires; otherwise it dies with it.
        lifetime: float | None = None
        if not user_token.long_lived and user_token.expires_at is not None:
            lifetime = max(0.0, user_token.expires_at - state.clock.now())
        token = state.store.issue(
            user_token.grant, TokenKind.ACCESS, lifetime, "EAAP", subject=page.id
        )
        cache[page.id] = token.value
        return token.value

    def authed(request: Request) -> tuple[Response | None, Token | None, User | None]:
        found = state.store.lookup(
            request.query_params.get("access_token") or _bearer(request),
            TokenKind.ACCESS,
            PROVIDER,
        )
        if not found.ok or found.token is None:
            return dead_token(found.status), None, None
        return None, found.token, state.users.ensure(PROVIDER, found.token.grant.user)

    async def dialog(request: Request) -> Response:
        return await authorize(request, state, POLICY)

    async def access_token(request: Request) -> Response:  # noqa: PLR0911 - three grant types
        query = await params(request)
        client_id = query.get("client_id", "")
        grant_type = query.get("grant_type")
        if not client_id:
            return meta_error("Missing client_id parameter.", 101)
        if not state.client_ok(PROVIDER, client_id, query.get("client_secret")):
            return meta_error("Error validating client secret.", 1, 404078)
        if grant_type == "client_credentials":
            secret = query.get("client_secret", "")
            return json_response({"access_token": f"{client_id}|{secret}", "token_type": "bearer"})
        if grant_type == "fb_exchange_token":
            found = state.store.lookup(query.get("fb_exchange_token"), TokenKind.ACCESS, PROVIDER)
            if not found.ok or found.token is None or found.token.subject is not None:
                return dead_token(found.status)
            long = state.store.issue(
                found.token.grant, TokenKind.ACCESS, FACEBOOK_LONG, "EAAL", long_lived=True
            )
            return json_response(
                {"access_token": long.value, "token_type": "bearer", "expires_in": FACEBOOK_LONG}
            )
        problem, code = redeem(
            state, PROVIDER, query.get("code"), client_id, query.get("redirect_uri")
        )
        if problem is not None or code is None:
            message, subcode = _CODE_ERRORS.get(
                problem or RedeemError.UNKNOWN, ("Invalid verification code format.", None)
            )
            return meta_error(message, 100, subcode)
        grant = state.store.new_grant(PROVIDER, code.user, client_id, code.scopes)
        short = state.store.issue(grant, TokenKind.ACCESS, FACEBOOK_SHORT, "EAAS")
        return json_response(
            {"access_token": short.value, "token_type": "bearer", "expires_in": FACEBOOK_SHORT}
        )

    async def me(request: Request) -> Response:
        problem, token, user = authed(request)
        if problem is not None or token is None or user is None:
            return problem or dead_token_unknown()
        fields = request.query_params.get("fields")
        if token.subject is not None:
            found = state.users.find_page(PROVIDER, token.subject)
            if found is None:
                return dead_token_unknown()
            return json_response(select_fields(_page_json(found[1], None), fields, ("id", "name")))
        return json_response(select_fields(_user_json(user), fields, ("id", "name")))

    async def accounts(request: Request) -> Response:
        problem, token, user = authed(request)
        if problem is not None or token is None or user is None:
            return problem or dead_token_unknown()
        if token.subject is not None:
            return meta_error(
                "(#100) Tried accessing nonexisting field (accounts) on node type (Page)",
                100,
            )
        fields = request.query_params.get("fields")
        default = ("access_token", "category", "name", "id", "tasks")
        data = [
            select_fields(_page_json(page, page_token(token, page)), fields, default)
            for page in user.pages
        ]
        cursors = {"before": "QVFIUmJl", "after": "QVFIUmFm"}
        return json_response({"data": data, "paging": {"cursors": cursors}})

    async def permissions(request: Request) -> Response:
        problem, token, _ = authed(request)
        if problem is not None or token is None:
            return problem or dead_token_unknown()
        if request.method == "DELETE":
            grant = token.grant
            state.store.revoke_grants(lambda g: g is grant)
            return json_response({"success": True})
        return json_response(
            {"data": [{"permission": s, "status": "granted"} for s in token.grant.scopes]}
        )

    async def debug_token(request: Request) -> Response:
        if not request.query_params.get("access_token"):
            return meta_error("An access token is required to request this resource.", 104)
        token = state.store.find(request.query_params.get("input_token", ""))
        if token is None or token.grant.provider != PROVIDER:
            return json_response(
                {
                    "data": {
                        "error": {"code": 190, "message": "Invalid OAuth access token."},
                        "is_valid": False,
                        "scopes": [],
                    }
                }
            )
        status = token.status(state.clock.now())
        user = state.users.ensure(PROVIDER, token.grant.user)
        data: dict[str, Any] = {
            "app_id": token.grant.client_id,
            "type": "PAGE" if token.subject else "USER",
            "application": "Mooring (simulated)",
            "data_access_expires_at": int(token.grant.created_at + 90 * DAY),
            "expires_at": 0 if token.expires_at is None else int(token.expires_at),
            "is_valid": status.value == "ok",
            "issued_at": int(token.issued_at),
            "scopes": list(token.grant.scopes),
            "user_id": user.id,
        }
        if token.subject:
            data["profile_id"] = token.subject
        if status.value != "ok":
            data["error"] = {"code": 190, "message": f"The access token is {status.value}."}
        return json_response({"data": data})

    async def node(request: Request) -> Response:
        problem, token, user = authed(request)
        if problem is not None or token is None or user is None:
            return problem or dead_token_unknown()
        node_id = request.path_params["node_id"]
        fields = request.query_params.get("fields")
        if node_id == user.id and token.subject is None:
            return json_response(select_fields(_user_json(user), fields, ("id", "name")))
        for page in user.pages:
            if token.subject not in {None, page.id}:
                continue
            if page.id == node_id:
                return json_response(select_fields(_page_json(page, None), fields, ("id", "name")))
            if page.instagram is not None and page.instagram.id == node_id:
                return json_response(select_fields(_ig_json(page.instagram), fields, ("id",)))
        return meta_error(
            f"Unsupported get request. Object with ID '{node_id}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation.",
            100,
            33,
            error_type="GraphMethodException",
        )

    graph = Router(
        routes=[
            Route("/dialog/oauth", dialog, methods=["GET", "POST"]),
            Route("/oauth/access_token", access_token, methods=["GET", "POST"]),
            Route("/debug_token", debug_token, methods=["GET"]),
            Route("/me", me, methods=["GET"]),
            Route("/me/accounts", accounts, methods=["GET"]),
            Route("/me/permissions", permissions, methods=["GET", "DELETE"]),
            Route("/{node_id}", node, methods=["GET"]),
        ]
    )
    return Mount("/facebook", app=StripGraphVersion(graph))


def dead_token_unknown() -> Response:
    return meta_error("Invalid OAuth access token - Cannot parse access token", 190)


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None
